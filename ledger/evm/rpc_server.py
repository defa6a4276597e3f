"""A small Ethereum JSON-RPC server over an in-process py-evm chain (eth-tester), on 127.0.0.1.

The devnet's fallback where anvil is not installed. It serves what djmesh's own web3 clients use
(the eth_* methods eth-tester implements, plus evm_mine and evm_increaseTime); it is not a complete
node. Requests are translated with web3's own eth-tester formatters; results go back as JSON-RPC
hex quantities.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from eth_abi.abi import encode as abi_encode
from eth_tester import EthereumTester  # type: ignore[import-untyped]
from web3 import EthereumTesterProvider
from web3.providers.eth_tester.middleware import request_formatters, result_formatters
from web3.types import RPCEndpoint

MAX_REQUEST_BYTES = 4 * 1024 * 1024
ERROR_SELECTOR = bytes.fromhex("08c379a0")  # Error(string)


def to_wire(value: Any) -> Any:
    """Python values from eth-tester as JSON-RPC wants them: quantities and bytes as 0x-hex."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return hex(value)
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    if isinstance(value, dict):
        return {key: to_wire(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [to_wire(item) for item in value]
    return value


class PyEvmRpc:
    """Answers JSON-RPC request objects from one eth-tester chain (one request at a time)."""

    def __init__(self, tester: EthereumTester) -> None:
        self.tester = tester
        self.provider = EthereumTesterProvider(tester)
        self._lock = threading.Lock()
        self._extra: dict[str, Callable[[list[Any]], Any]] = {
            "evm_mine": self._mine,
            "evm_increaseTime": self._increase_time,
            "net_version": lambda _params: str(self.tester.backend.chain.chain_id),
            "web3_clientVersion": lambda _params: "djmesh-devnet/py-evm",
        }

    def _mine(self, params: list[Any]) -> Any:
        self.tester.mine_blocks(1)
        return "0x0"

    def _increase_time(self, params: list[Any]) -> Any:
        seconds = params[0] if params else 0
        seconds = int(seconds, 16) if isinstance(seconds, str) else int(seconds)
        latest = self.tester.get_block_by_number("latest")["timestamp"]
        self.tester.time_travel(latest + seconds)
        return hex(seconds)

    def answer(self, request: Any) -> dict[str, Any]:
        if not isinstance(request, dict) or not isinstance(request.get("method"), str):
            return {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "invalid request"}}
        ident = request.get("id")
        method = RPCEndpoint(request["method"])
        params = request.get("params") or []
        if not isinstance(params, list):
            return {
                "jsonrpc": "2.0",
                "id": ident,
                "error": {"code": -32602, "message": "params must be a list"},
            }
        try:
            with self._lock:
                if method in self._extra:
                    return {"jsonrpc": "2.0", "id": ident, "result": self._extra[method](params)}
                if method in ("eth_call", "eth_estimateGas") and params and isinstance(params[0], dict):
                    # eth-tester insists on a sender; JSON-RPC makes it optional
                    params = [{"from": self.tester.get_accounts()[0], **params[0]}, *params[1:]]
                formatter = request_formatters.get(method)
                response = dict(
                    self.provider.make_request(method, formatter(params) if formatter else params)
                )
        except Exception as exc:  # one bad request must not stop the chain
            return {"jsonrpc": "2.0", "id": ident, "error": _error(str(exc) or type(exc).__name__)}
        if "error" in response:
            error = response["error"]
            message = error.get("message") if isinstance(error, dict) else error
            return {"jsonrpc": "2.0", "id": ident, "error": _error(str(message))}
        result = response.get("result")
        shaper = result_formatters.get(method) if result_formatters else None
        if shaper is not None:
            result = shaper(result)
        return {"jsonrpc": "2.0", "id": ident, "result": to_wire(result)}


def _error(message: str) -> dict[str, Any]:
    """A JSON-RPC error; reverts carry their reason ABI-encoded as Error(string), as geth and anvil do."""
    prefix = "execution reverted"
    if not message.startswith(prefix):
        return {"code": -32000, "message": message}
    reason = message.removeprefix(prefix).removeprefix(":").strip()
    data = ERROR_SELECTOR + abi_encode(["string"], [reason]) if reason else b""
    return {"code": 3, "message": message, "data": "0x" + data.hex()}


def serve(rpc: PyEvmRpc, port: int) -> ThreadingHTTPServer:
    """Start serving on 127.0.0.1:``port`` in a daemon thread; `shutdown()` the result to stop."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length <= 0 or length > MAX_REQUEST_BYTES:
                self.send_error(413 if length > 0 else 411)
                return
            try:
                body = json.loads(self.rfile.read(length))
            except (json.JSONDecodeError, UnicodeDecodeError):
                reply: Any = {
                    "jsonrpc": "2.0",
                    "id": None,
                    "error": {"code": -32700, "message": "parse error"},
                }
            else:
                reply = [rpc.answer(r) for r in body] if isinstance(body, list) else rpc.answer(body)
            data = json.dumps(reply).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, name="devnet-rpc", daemon=True).start()
    return server
