"""HTTP JSON-RPC on loopback for the local chain, with failures on demand for tests.

Answers the read methods a discovery walk and common clients use (eth_chainId, net_version, eth_blockNumber,
eth_call, eth_getCode, eth_getBlockByNumber, web3_clientVersion), single or batched, in the shapes geth
uses, including its errors ("header not found" for a block it does not have yet).

`fail(...)` makes the server misbehave after a number of good answers: HTTP 503, a dropped connection, a
JSON-RPC error, or a slow answer (a fixed delay, or held until `heal()`); `on_request` runs a hook before each
answer (tests change the pool from there, in the middle of a walk).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

from eth_tester.exceptions import BlockNotFound, TransactionFailed, ValidationError

from discovery.localchain.chain import LocalChain

MAX_REQUEST_BYTES = 1 << 20
FAULT_MODES = ("http_503", "drop", "rpc_error", "slow")
BLOCK_FIELDS = {"number": "number", "hash": "hash", "parent_hash": "parentHash", "timestamp": "timestamp",
                "gas_limit": "gasLimit", "gas_used": "gasUsed"}  # fmt: skip


class RpcFailure(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Fault:
    after: int  # requests answered normally first
    mode: str
    count: int | None  # failing requests, then normal again; None: until heal()
    delay_s: float | None  # mode "slow": seconds to wait; None: hold the answer until heal() or stop()


def _block_param(value: Any) -> int | str:
    if value in (None, "latest", "pending", "safe", "finalized"):
        return "latest"
    if value == "earliest":
        return "earliest"
    if isinstance(value, str) and value.startswith("0x"):
        return int(value, 16)
    if isinstance(value, dict) and "blockNumber" in value:  # EIP-1898
        return _block_param(value["blockNumber"])
    raise RpcFailure(-32602, f"invalid block parameter {value!r}")


def _hex(v: Any) -> Any:
    if isinstance(v, bytes):
        return "0x" + v.hex()
    if isinstance(v, int) and not isinstance(v, bool):
        return hex(v)
    return v


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # connections dropped on purpose (fault "drop") or by clients that gave up: nothing to report


class RpcServer:
    """`with RpcServer(chain) as rpc: rpc.url` serves the chain on 127.0.0.1 until the block ends."""

    def __init__(self, chain: LocalChain, host: str = "127.0.0.1", port: int = 0) -> None:
        self.chain = chain
        self.requests = 0  # JSON-RPC calls seen (a batch counts each call)
        self.methods: dict[str, int] = {}
        self.on_request: Callable[[int, str], None] | None = None
        self._fault: Fault | None = None
        self._lock = threading.Lock()
        self._released = threading.Event()  # set by heal()/stop(): answers held by a "slow" fault go out
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # small answers on keep-alive connections: no 40 ms delayed-ACK stalls

            def log_message(self, *args: Any) -> None:  # quiet: tests and the demo own the log
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                outer._handle(self)

        self._httpd = _QuietServer((host, port), Handler)
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "RpcServer":
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), name="local-chain-rpc", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._released.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> "RpcServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # ---- faults ----------------------------------------------------------------------------------------------

    def fail(self, mode: str = "http_503", after: int = 0, count: int | None = None,
             delay_s: float | None = None) -> None:  # fmt: skip
        """Misbehave after `after` good answers, for `count` requests (None: until heal()).

        Mode "slow" waits `delay_s` seconds before answering, or with delay_s=None holds the answer until heal()
        or stop(): a client timeout then fires however slow the machine is, which keeps tests off the clock."""
        if mode not in FAULT_MODES:
            raise ValueError(f"mode must be one of {FAULT_MODES}")
        with self._lock:
            self._released.clear()
            self._fault = Fault(after=after, mode=mode, count=count, delay_s=delay_s)

    def heal(self) -> None:
        with self._lock:
            self._fault = None
        self._released.set()

    def _fault_now(self) -> Fault | None:
        with self._lock:
            f = self._fault
            if f is None:
                return None
            if f.after > 0:
                f.after -= 1
                return None
            if f.count is not None:
                if f.count <= 0:
                    self._fault = None
                    return None
                f.count -= 1
            return f

    # ---- HTTP ------------------------------------------------------------------------------------------------

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        if length <= 0 or length > MAX_REQUEST_BYTES:
            self._send(h, 400, {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "bad request size"}})
            return
        raw = h.rfile.read(length)
        try:
            body = json.loads(raw)
        except ValueError:
            self._send(h, 200, {"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "parse error"}})
            return
        calls = body if isinstance(body, list) else [body]
        fault = self._fault_now()
        if fault is not None:
            if fault.mode == "drop":
                h.close_connection = True
                h.connection.close()
                return
            if fault.mode == "http_503":
                self._send(h, 503, {"message": "service unavailable (injected)"})
                return
            if fault.mode == "slow":
                if fault.delay_s is None:
                    self._released.wait()
                else:
                    time.sleep(fault.delay_s)
        answers = []
        for call in calls:
            answers.append(self._answer(call, fault))
        self._send(h, 200, answers if isinstance(body, list) else answers[0])

    def _answer(self, call: Any, fault: Fault | None) -> dict[str, Any]:
        if not isinstance(call, dict) or not isinstance(call.get("method"), str):
            return {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "invalid request"}}
        cid = call.get("id")
        method = call["method"]
        params = call.get("params") or []
        with self._lock:
            self.requests += 1
            n = self.requests
            self.methods[method] = self.methods.get(method, 0) + 1
        if self.on_request is not None:
            self.on_request(n, method)
        if fault is not None and fault.mode == "rpc_error":
            return {"jsonrpc": "2.0", "id": cid, "error": {"code": -32000, "message": "internal error (injected)"}}
        try:
            result = self._dispatch(method, params)
        except RpcFailure as e:
            return {"jsonrpc": "2.0", "id": cid, "error": {"code": e.code, "message": e.message}}
        return {"jsonrpc": "2.0", "id": cid, "result": result}

    def _dispatch(self, method: str, params: list[Any]) -> Any:
        chain = self.chain
        try:
            if method == "eth_chainId":
                return hex(chain.chain_id)
            if method == "net_version":
                return str(chain.chain_id)
            if method == "web3_clientVersion":
                return "naap-localchain/py-evm"
            if method == "eth_blockNumber":
                return hex(chain.block_number)
            if method == "eth_call":
                tx = params[0]
                return chain.call(tx["to"], tx.get("data") or tx.get("input") or "0x", _block_param(params[1] if len(params) > 1 else None))
            if method == "eth_getCode":
                return chain.get_code(params[0], _block_param(params[1] if len(params) > 1 else None))
            if method == "eth_getBlockByNumber":
                b = chain.get_block(_block_param(params[0]))
                return {rpc_name: _hex(b[k]) for k, rpc_name in BLOCK_FIELDS.items()}
        except BlockNotFound:
            raise RpcFailure(-32000, "header not found") from None
        except TransactionFailed as e:
            raise RpcFailure(3, f"execution reverted: {e}") from None
        except (ValidationError, KeyError, IndexError, TypeError, ValueError) as e:
            raise RpcFailure(-32602, f"invalid params: {e}") from None
        raise RpcFailure(-32601, f"the method {method} does not exist/is not available")

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)
