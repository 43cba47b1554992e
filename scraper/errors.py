"""Scrape error classes: the `error_class` column of the scrapes table. Permanent-per-scrape; the next
scheduled scrape of the same target starts afresh. The fetch classes are the bounded fetch's own
(exporter/common/httpfetch.py); the rest are decided here."""

from exporter.common.httpfetch import (
    BODY_TOO_LARGE,
    CONNECT,
    CONNECTION,
    DECOMPRESS,
    DNS,
    HTTP_STATUS,
    PROTOCOL,
    REDIRECT,
    REFUSED_ADDRESS,
    TIMEOUT,
    TLS,
    FetchError,
)

OK = "ok"
CONTENT_TYPE = "content_type"  # not a metrics exposition
PARSE = "parse"  # malformed exposition
SAMPLE_LIMIT = "sample_limit"  # more samples than allowed
LABEL_LIMIT = "label_limit"  # label name/value/count past limits
IDENTITY_MISMATCH = "identity_mismatch"  # the exporter does not declare the orchestrator the target is for
INTERNAL = "internal"  # a bug on our side; counted, logged, never fatal
# Not scraped: discovery found another orchestrator's target at the same metrics URL (discovery/service.py).
DUPLICATE_METRICS_URL = "duplicate_metrics_url"
# Scheduled slots the scraper itself did not run (its loop overran, it was paused): recorded as void rows so
# they count neither for nor against the target (see docs/scraper.md, "Availability").
MISSED = "missed"

ALL = (
    OK, REFUSED_ADDRESS, DNS, CONNECT, TLS, TIMEOUT, HTTP_STATUS, REDIRECT, BODY_TOO_LARGE,
    DECOMPRESS, CONTENT_TYPE, PARSE, SAMPLE_LIMIT, LABEL_LIMIT, CONNECTION, PROTOCOL, IDENTITY_MISMATCH, INTERNAL,
    MISSED, DUPLICATE_METRICS_URL,
)  # fmt: skip

# Failures that say nothing about the target's answer, only that it could not be reached: when every target
# of a round fails with one of these, the scraper's own network is the likelier culprit.
UNREACHABLE = frozenset((DNS, CONNECT, TLS, TIMEOUT, CONNECTION))


class ScrapeError(FetchError):
    """A failed scrape with its class and a short message for the scrape row (fetch failures are the base
    class, FetchError; parsing and limits raise this)."""
