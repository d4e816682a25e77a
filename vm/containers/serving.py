"""What the registry and the daemon do alike as HTTP servers facing whoever connects."""

from __future__ import annotations

import hmac

from aiohttp import web


def bearer_matches(request: web.Request, token: str) -> bool:
    """Whether the request carries `Authorization: Bearer TOKEN`, compared in constant time as bytes
    (a header that is not UTF-8 is simply another token)."""
    given = request.headers.get("Authorization", "").encode("utf-8", "surrogateescape")
    return hmac.compare_digest(given, f"Bearer {token}".encode())
