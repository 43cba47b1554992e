"""STAND-IN for a ClickHouse server — NOT ClickHouse. For tests only.

No ClickHouse server package exists for the test machine, so the `http(s)://` warehouse path is exercised
against this loopback HTTP server instead. It speaks the part of ClickHouse's HTTP interface that
clickhouse-connect uses, and runs every statement on the real ClickHouse engine: chDB, in this process (run it
as its own process — chDB allows one data directory per process, and the test process already holds one):

    python tests/clickhouse_http_standin.py --port 0 --data-dir DIR     # prints "READY http://127.0.0.1:PORT"

What it does like a server:
- the query is the `query` parameter and/or the POST body; `INSERT … FORMAT F` takes the rest of the body as
  data (skipping spaces and one newline), decompressed per Content-Encoding (lz4, zstd, gzip, deflate);
- `database`, `param_*` (server-side bound parameters), `default_format`; every other query-string parameter
  that is not a transport parameter is a setting of that request only: each request runs on a fresh chDB
  handle (handles have their own settings; nothing leaks into other requests); a GET implies readonly=2;
- a `session_id` already used by an in-flight request is refused with 500, `X-ClickHouse-Exception-Code: 373`
  and `Code: 373. DB::Exception: Session is locked by a concurrent client. (SESSION_IS_LOCKED)`. The check
  happens before a request waits for the engine, so it applies to requests that truly overlap (a threading
  server; only the engine calls are serialised, chDB is not thread-safe);
- engine errors: HTTP 500, ClickHouse's text, `X-ClickHouse-Exception-Code`; results in the requested format
  (`FORMAT Native` as clickhouse-connect asks), compressed per Accept-Encoding when `enable_http_compression`
  is on (the profile's default, or the request's setting).

What it does NOT do (a real server would): authentication and users (credentials are ignored), session state
(SET or temporary tables do not persist across requests of a session; only the lock rule is kept),
`client_protocol_version` (Native output carries no block info, so clickhouse-connect's probe falls back to
protocol 0, as on chdb://), progress headers, ClickHouse's own `compress`/`decompress` block format,
streaming (responses are buffered), HTTP status codes other than 500 for errors, TLS.

Test controls (not ClickHouse; under /__standin__/): `hold` takes the engine lock and `release` gives it back,
so a test can make requests pile up deterministically; `wait?inflight=K&refused=R&timeout=S` blocks until at
least K requests are in flight at once and R were refused for a locked session (or answers 408); `stats`.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import sys
import threading
import uuid
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import chdb
import lz4.frame

try:  # what clickhouse-connect uses: the standard library's zstd (3.14+) or its backport
    from compression import zstd  # type: ignore[import-not-found]
except ImportError:
    from backports import zstd  # type: ignore[no-redef]

# Query-string parameters the HTTP interface consumes itself; everything else is a setting.
TRANSPORT = frozenset({
    "query", "database", "default_format", "user", "password", "quota_key", "query_id", "session_id",
    "session_timeout", "session_check", "compress", "decompress", "buffer_size", "wait_end_of_query",
    "client_protocol_version", "role", "stacktrace",
})  # fmt: skip
SESSION_LOCKED = "Code: 373. DB::Exception: Session is locked by a concurrent client. (SESSION_IS_LOCKED)"
_SETTING_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_INSERT_DATA = re.compile(rb"^\s*(INSERT\s+INTO\s.*?)\s+FORMAT\s+(\w+)[ \t]*\n?", re.IGNORECASE | re.DOTALL)
_TRAILING_FORMAT = re.compile(r"\bFORMAT\s+(\w+)\s*;?\s*$", re.IGNORECASE)
_ERROR_CODE = re.compile(r"Code: (\d+)\.")


class EngineError(Exception):
    def __init__(self, text: str) -> None:
        m = _ERROR_CODE.search(text)
        self.code = m.group(1) if m else "1001"  # STD_EXCEPTION
        super().__init__(text if m else f"Code: 1001. DB::Exception: {text}. (STD_EXCEPTION)")


def _decode_body(data: bytes, encoding: str) -> bytes:
    """A request body per Content-Encoding; clickhouse-connect sends one lz4/zstd frame per block."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return data
    if encoding == "gzip":
        return gzip.decompress(data)
    if encoding == "deflate":
        return zlib.decompress(data)
    if encoding == "zstd":
        return zstd.decompress(data)  # reads concatenated frames
    if encoding != "lz4":
        raise EngineError(f"Code: 48. DB::Exception: Unknown Content-Encoding {encoding}. (NOT_IMPLEMENTED)")
    out = []
    while data:  # concatenated frames
        d = lz4.frame.LZ4FrameDecompressor()
        out.append(d.decompress(data))
        data = d.unused_data
    return b"".join(out)


def _encode_body(data: bytes, accept: str) -> tuple[bytes, str | None]:
    for enc in (e.strip().lower() for e in accept.split(",")):
        if enc == "lz4":
            return lz4.frame.compress(data), enc
        if enc == "zstd":
            return zstd.compress(data), enc
        if enc == "gzip":
            return gzip.compress(data), enc
        if enc == "deflate":
            return zlib.compress(data), enc
    return data, None


class Engine:
    """chDB, one call at a time; each call on a fresh handle carrying that request's database and settings."""

    def __init__(self, data_dir: str) -> None:
        self.data_dir = data_dir
        self.lock = threading.Lock()
        self._base = chdb.connect(data_dir)  # keeps the engine up between requests
        self.version = self._base.query("SELECT version()", "TabSeparated").bytes().decode().strip()
        # The profile's default (1 in recent ClickHouse, chDB included); a request may override it.
        self.http_compression = self._base.query(
            "SELECT value FROM system.settings WHERE name = 'enable_http_compression'", "TabSeparated"
        ).bytes().decode().strip()

    def execute(self, text: bytes, database: str | None, settings: dict[str, str], params: dict[str, str],
                default_format: str) -> tuple[bytes, str | None, dict[str, str]]:  # fmt: skip
        """Run one request; returns (body, result format or None, summary)."""
        with self.lock:
            conn = chdb.connect(self.data_dir)
            try:
                if database:
                    conn.query(f"USE `{database.replace('`', '``')}`", "TabSeparated")
                for name in sorted(settings, key=lambda k: k == "readonly"):  # readonly last: it forbids SETs
                    if not _SETTING_NAME.match(name):
                        raise EngineError(f"Code: 115. DB::Exception: Unknown setting {name!r}. (UNKNOWN_SETTING)")
                    value = settings[name].replace("\\", "\\\\").replace("'", "\\'")
                    conn.query(f"SET {name} = '{value}'", "TabSeparated")
                m = _INSERT_DATA.match(text)
                if m:
                    inserter = conn.send_insert(m.group(1).decode(), m.group(2).decode())
                    inserter.append(text[m.end():])
                    r = inserter.finish()
                    return b"", None, {"written_rows": str(r.rows_written), "written_bytes": str(r.bytes_written)}
                sql = text.decode()
                explicit = _TRAILING_FORMAT.search(sql)
                if explicit or default_format != "TabSeparated":
                    r = conn.query(sql, default_format, params=params)
                    return r.bytes() or b"", explicit.group(1) if explicit else default_format, self._summary(r)
                # With names, a statement with a result always prints a line and one without prints nothing:
                # how a server knows to send X-ClickHouse-Format (clickhouse-connect's command() reads it).
                r = conn.query(sql, "TabSeparatedWithNames", params=params)
                out = r.bytes() or b""
                return (out.split(b"\n", 1)[1], "TabSeparated", self._summary(r)) if out else (b"", None, self._summary(r))
            except EngineError:
                raise
            except Exception as e:  # chDB raises RuntimeError/ChdbError carrying ClickHouse's message
                raise EngineError(str(e).strip()) from None
            finally:
                conn.close()

    @staticmethod
    def _summary(r: object) -> dict[str, str]:
        return {"read_rows": str(r.rows_read()), "read_bytes": str(r.bytes_read())}  # type: ignore[attr-defined]


class StandIn(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, port: int, engine: Engine) -> None:
        super().__init__(("127.0.0.1", port), Handler)
        self.engine = engine
        self.state = threading.Condition()
        self.sessions: set[str] = set()
        self.inflight = self.peak_inflight = self.refused = self.requests = 0

    def enter(self, session_id: str | None) -> bool:
        with self.state:
            if session_id and session_id in self.sessions:
                self.refused += 1
                self.state.notify_all()
                return False
            if session_id:
                self.sessions.add(session_id)
            self.requests += 1
            self.inflight += 1
            self.peak_inflight = max(self.peak_inflight, self.inflight)
            self.state.notify_all()
            return True

    def leave(self, session_id: str | None) -> None:
        with self.state:
            self.sessions.discard(session_id or "")
            self.inflight -= 1

    def stats(self) -> dict[str, int]:
        return {"inflight": self.inflight, "peak_inflight": self.peak_inflight, "refused": self.refused,
                "requests": self.requests}  # fmt: skip


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: StandIn

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet
        pass

    def do_GET(self) -> None:  # noqa: N802
        self._handle()

    def do_POST(self) -> None:  # noqa: N802
        self._handle()

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):  # trailers
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _handle(self) -> None:
        url = urlsplit(self.path)
        args = dict(parse_qsl(url.query, keep_blank_values=True))
        if url.path == "/ping":
            return self._send(200, b"Ok.\n")
        if url.path.startswith("/__standin__/"):
            return self._control(url.path.rsplit("/", 1)[1], args)
        session = args.get("session_id") or None
        query_id = args.get("query_id") or str(uuid.uuid4())
        if not self.server.enter(session):  # before the engine lock, as a server checks before running
            self._read_body()
            return self._send(500, f"{SESSION_LOCKED}\n".encode(), {"X-ClickHouse-Exception-Code": "373"})
        try:
            body = _decode_body(self._read_body(), self.headers.get("Content-Encoding", ""))
            text = (args["query"].encode() + (b"\n" + body if body else b"")) if args.get("query") else body
            settings = {k: v for k, v in args.items() if k not in TRANSPORT and not k.startswith("param_")}
            if self.command == "GET":
                settings.setdefault("readonly", "2")
            params = {k[len("param_"):]: v for k, v in args.items() if k.startswith("param_")}
            out, fmt, summary = self.server.engine.execute(
                text, args.get("database"), settings, params, args.get("default_format") or "TabSeparated"
            )
        except Exception as e:  # the engine's errors, and a body that does not decode
            err = e if isinstance(e, EngineError) else EngineError(f"{type(e).__name__}: {e}")
            self.server.leave(session)
            text = f"{err} (version {self.server.engine.version})\n".encode()
            return self._send(500, text, {"X-ClickHouse-Exception-Code": err.code, "X-ClickHouse-Query-Id": query_id})
        self.server.leave(session)  # before answering: the client may send its next request at once
        headers = {"X-ClickHouse-Query-Id": query_id, "X-ClickHouse-Summary": json.dumps(summary)}
        if fmt:
            headers["X-ClickHouse-Format"] = fmt
        if settings.get("enable_http_compression", self.server.engine.http_compression) in ("1", "true"):
            out, encoding = _encode_body(out, self.headers.get("Accept-Encoding", ""))
            if encoding:
                headers["Content-Encoding"] = encoding
        self._send(200, out, headers)

    def _control(self, action: str, args: dict[str, str]) -> None:
        srv = self.server
        self._read_body()
        if action == "hold":
            srv.engine.lock.acquire()
        elif action == "release":
            srv.engine.lock.release()
        elif action == "wait":
            want_inflight, want_refused = int(args.get("inflight", 0)), int(args.get("refused", 0))
            with srv.state:
                ok = srv.state.wait_for(
                    lambda: srv.inflight >= want_inflight and srv.refused >= want_refused,
                    float(args.get("timeout", 30)),
                )
            if not ok:
                return self._send(408, json.dumps(srv.stats()).encode())
        elif action != "stats":
            return self._send(404, b"unknown control\n")
        self._send(200, json.dumps(srv.stats()).encode(), {"Content-Type": "application/json"})


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--data-dir", required=True)
    a = ap.parse_args(argv)
    Path(a.data_dir).mkdir(parents=True, exist_ok=True)
    server = StandIn(a.port, Engine(a.data_dir))
    print(f"READY http://127.0.0.1:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    sys.exit(main())
