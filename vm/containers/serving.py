"""What the registry and the daemon do alike as HTTP servers facing whoever connects: bounds on what
a slow or absent client can hold (connections, and the time to send a request), a bearer token's check,
and the end of a request whose client went away.
"""

from __future__ import annotations

import asyncio
import hmac

from aiohttp import web

from vm.containers import CLIENT_SECONDS

# The status logged for a request whose client went away before its answer (Ctrl-C on `logs -f` or an
# attached run, an upload cut off): nginx's "client closed request". It is a normal end, never sent.
CLIENT_CLOSED = 499


def client_closed() -> web.Response:
    """The answer to a request whose client is gone: aiohttp finds the connection closed and drops it."""
    return web.Response(status=CLIENT_CLOSED)


def bearer_matches(request: web.Request, token: str) -> bool:
    """Whether the request carries `Authorization: Bearer TOKEN`, compared in constant time as bytes
    (a header that is not UTF-8 is simply another token)."""
    given = request.headers.get("Authorization", "").encode("utf-8", "surrogateescape")
    return hmac.compare_digest(given, f"Bearer {token}".encode())


# A connection must send a whole request head within the client timeout of opening, or of its last answer;
# a body that stops arriving for that long is cut off (408).
CLIENT_TIMEOUT = web.AppKey("client_timeout", float)
MAX_CONNECTIONS = 256  # open at once; one more is answered 503 and closed
_BUSY = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


class GuardedRunner(web.AppRunner):
    """An AppRunner whose connections are bounded: at most MAX_CONNECTIONS at once, and each closed when it
    has waited `client_timeout` seconds for a request (aiohttp's keep-alive timer, which starts as a
    connection opens and closes one that is waiting for a request, whole or half sent)."""

    def __init__(self, app: web.Application, client_timeout: float = CLIENT_SECONDS) -> None:
        app[CLIENT_TIMEOUT] = client_timeout  # for read_body
        super().__init__(app, access_log=None, handle_signals=False, keepalive_timeout=client_timeout)

    @property
    def server(self):  # what the sites make each connection's protocol with
        server = super().server
        if server is None:
            return None

        def connection() -> asyncio.Protocol:
            return _Busy() if len(server.connections) >= MAX_CONNECTIONS else server()

        return connection


class _Busy(asyncio.Protocol):
    """A connection beyond the bound: answered 503, then closed once the client has read that (closing with
    its request unread would reset the connection and lose the answer), within a second."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.write(_BUSY)
        transport.write_eof()
        asyncio.get_running_loop().call_later(1.0, transport.close)

    def data_received(self, data: bytes) -> None:
        pass  # the request is not read: it is answered already


class BodyTimeout(Exception):
    """A body stopped arriving: the server answers 408 and closes the connection."""


async def read_body(request: web.Request) -> bytes:
    """The request's body, as request.read() gives it (within the app's size bound), or BodyTimeout once
    the client timeout passes with no byte of it arriving."""
    timeout = request.app[CLIENT_TIMEOUT]
    received = request.content.total_bytes
    reading = asyncio.ensure_future(request.read())
    while True:
        done, _ = await asyncio.wait({reading}, timeout=timeout)
        if done:
            return reading.result()
        if request.content.total_bytes == received:
            reading.cancel()
            raise BodyTimeout(f"no byte of the request's body arrived for {timeout:g} s")
        received = request.content.total_bytes


async def answer_and_close(request: web.Request, response: web.Response) -> web.Response:
    """Send the answer now and close the connection, without reading the rest of the body first (which
    aiohttp would wait for, up to its lingering time): for a client that stopped sending it."""
    await response.prepare(request)
    await response.write_eof()
    request.protocol.force_close()
    return response
