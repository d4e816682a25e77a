"""What the registry and the daemon do alike as HTTP servers facing whoever connects."""

from __future__ import annotations

import hmac

from aiohttp import web

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
