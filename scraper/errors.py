"""Scrape error classes: the `error_class` column of the scrapes table. Permanent-per-scrape; the next
scheduled scrape of the same target starts afresh."""

OK = "ok"
REFUSED_ADDRESS = "refused_address"  # safety rules forbid the address (loopback, private, metadata, ...)
DNS = "dns"  # name did not resolve
CONNECT = "connect"  # connection refused / reset / unreachable
TLS = "tls"  # handshake or certificate failure
TIMEOUT = "timeout"  # whole scrape past its time limit (hangs, slowloris)
HTTP_STATUS = "http_status"  # non-2xx answer
REDIRECT = "redirect"  # too many redirects, or a redirect the rules refuse
BODY_TOO_LARGE = "body_too_large"  # body past the byte cap (after decompression)
DECOMPRESS = "decompress"  # broken gzip/deflate body
CONTENT_TYPE = "content_type"  # not a metrics exposition
PARSE = "parse"  # malformed exposition
SAMPLE_LIMIT = "sample_limit"  # more samples than allowed
LABEL_LIMIT = "label_limit"  # label name/value/count past limits
CONNECTION = "connection"  # server closed the connection mid-answer
PROTOCOL = "protocol"  # not a well-formed HTTP answer (status line, headers)
INTERNAL = "internal"  # a bug on our side; counted, logged, never fatal
# Scheduled slots the scraper itself did not run (its loop overran, it was paused): recorded as void rows so
# they count neither for nor against the target (see docs/scraper.md, "Availability").
MISSED = "missed"

ALL = (
    OK, REFUSED_ADDRESS, DNS, CONNECT, TLS, TIMEOUT, HTTP_STATUS, REDIRECT, BODY_TOO_LARGE,
    DECOMPRESS, CONTENT_TYPE, PARSE, SAMPLE_LIMIT, LABEL_LIMIT, CONNECTION, PROTOCOL, INTERNAL, MISSED,
)

# Failures that say nothing about the target's answer, only that it could not be reached: when every target
# of a round fails with one of these, the scraper's own network is the likelier culprit.
UNREACHABLE = frozenset((DNS, CONNECT, TLS, TIMEOUT, CONNECTION))


class ScrapeError(Exception):
    """A failed scrape with its class and a short message for the scrape row."""

    def __init__(self, error_class: str, message: str) -> None:
        super().__init__(message)
        self.error_class = error_class
