"""Bounded request/response over one libp2p stream per request (trio side).

Wire format (one stream, one exchange):
  request:  uvarint length, then that many bytes; the requester then stops writing.
  response: one status byte, uvarint length, then that many bytes.
Status 0 = ok (body is the response), anything else = refusal (body is a short UTF-8 reason).

Both sides read the length first and refuse before reading a byte more than their bound, so a peer
can neither make us buffer without limit nor hold a handler slot forever (every read has a deadline).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import trio
from libp2p.abc import INetStream

from djmesh.node.p2p.errors import P2PError

log = logging.getLogger(__name__)

STATUS_OK = 0
STATUS_TOO_LARGE = 1
STATUS_BUSY = 2
STATUS_FAILED = 3
STATUS_MALFORMED = 4
_MAX_VARINT_BYTES = 10
_MAX_REASON_BYTES = 256
_CHUNK = 64 * 1024

AsyncHandler = Callable[[bytes, str], Awaitable[bytes]]


class _RefusedError(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


def encode_uvarint(value: int) -> bytes:
    if value < 0:
        raise ValueError("uvarint is unsigned")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


async def _read_exactly(stream: INetStream, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        try:
            chunk = await stream.read(min(n - len(buf), _CHUNK))
        except EOFError:  # StreamEOF
            chunk = b""
        if not chunk:
            raise _RefusedError(STATUS_MALFORMED, f"stream ended after {len(buf)} of {n} bytes")
        buf += chunk
    return bytes(buf)


async def _read_uvarint(stream: INetStream) -> int:
    value = 0
    for i in range(_MAX_VARINT_BYTES):
        byte = (await _read_exactly(stream, 1))[0]
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            return value
    raise _RefusedError(STATUS_MALFORMED, "length prefix too long")


async def _read_frame(stream: INetStream, limit: int) -> bytes:
    length = await _read_uvarint(stream)
    if length > limit:
        raise _RefusedError(STATUS_TOO_LARGE, f"{length} bytes exceeds the limit of {limit}")
    return await _read_exactly(stream, length)


@dataclass
class ServerLimits:
    max_request_bytes: int
    read_timeout_s: float = 10.0
    handler_timeout_s: float = 30.0


class RequestServer:
    """Serves one protocol id: reads a bounded request, awaits the handler, writes the response."""

    def __init__(
        self,
        call_handler: Callable[[bytes, str], Awaitable[bytes]],
        limits: ServerLimits,
        slots: trio.Semaphore,
    ) -> None:
        """``slots`` is shared by every protocol of one host: it bounds concurrent inbound requests."""
        self._call_handler = call_handler
        self._limits = limits
        self._slots = slots

    async def handle_stream(self, stream: INetStream) -> None:
        peer_id = stream.muxed_conn.peer_id.to_base58()
        try:
            if self._slots.value == 0:
                await _respond(stream, STATUS_BUSY, b"too many concurrent requests")
                return
            async with self._slots:
                await self._serve(stream, peer_id)
        except Exception as exc:  # a misbehaving peer must never take the host down
            log.debug("request from %s failed: %r", peer_id, exc)
            await _reset_quietly(stream)

    async def _serve(self, stream: INetStream, peer_id: str) -> None:
        try:
            with trio.fail_after(self._limits.read_timeout_s):
                request = await _read_frame(stream, self._limits.max_request_bytes)
        except _RefusedError as refused:
            await _respond(stream, refused.status, str(refused).encode())
            return
        except trio.TooSlowError:
            await _respond(stream, STATUS_MALFORMED, b"request not received in time")
            return
        try:
            with trio.fail_after(self._limits.handler_timeout_s):
                response = await self._call_handler(request, peer_id)
            if not isinstance(response, bytes | bytearray | memoryview):
                raise TypeError(f"handler returned {type(response).__name__}, not bytes")
        except Exception as exc:
            log.warning("request handler failed for %s: %r", peer_id, exc)
            await _respond(stream, STATUS_FAILED, b"handler failed")
            return
        await _respond(stream, STATUS_OK, bytes(response))


async def _respond(stream: INetStream, status: int, body: bytes) -> None:
    if status != STATUS_OK:
        body = body[:_MAX_REASON_BYTES]
    with trio.move_on_after(30):
        await stream.write(bytes([status]) + encode_uvarint(len(body)) + body)
        await stream.close()
        return
    await _reset_quietly(stream)


async def _reset_quietly(stream: INetStream) -> None:
    try:
        # Shielded: this also runs while a timeout is cancelling us, and the stream must be freed.
        with trio.CancelScope(shield=True), trio.move_on_after(2):
            await stream.reset()
    except Exception:  # already closed or broken; nothing more to free
        log.debug("reset of a broken stream failed", exc_info=True)


async def send_request(stream: INetStream, data: bytes, max_response_bytes: int) -> bytes:
    """Write one request on ``stream`` and read its bounded response; refusals become P2PError."""
    try:
        await stream.write(encode_uvarint(len(data)) + data)
        status = (await _read_exactly(stream, 1))[0]
        limit = max_response_bytes if status == STATUS_OK else _MAX_REASON_BYTES
        body = await _read_frame(stream, limit)
    except _RefusedError as refused:
        await _reset_quietly(stream)
        if refused.status == STATUS_TOO_LARGE:
            raise P2PError(f"response refused: {refused} (max_response_bytes)") from None
        raise P2PError(f"malformed response: {refused}") from None
    except trio.Cancelled:
        await _reset_quietly(stream)
        raise
    except Exception as exc:
        await _reset_quietly(stream)
        raise P2PError(f"request failed: {exc!r}") from exc
    await _close_quietly(stream)
    if status != STATUS_OK:
        reason = body.decode("utf-8", "replace")
        raise P2PError(f"peer refused the request ({_STATUS_NAMES.get(status, status)}): {reason}")
    return body


async def _close_quietly(stream: INetStream) -> None:
    try:
        await stream.close()
    except Exception:
        log.debug("close failed", exc_info=True)


_STATUS_NAMES = {
    STATUS_TOO_LARGE: "too large",
    STATUS_BUSY: "busy",
    STATUS_FAILED: "handler failed",
    STATUS_MALFORMED: "malformed",
}
