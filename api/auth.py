"""Bearer tokens with roles (*produce*, *read*), compared in constant time."""

from __future__ import annotations

import hmac
from collections.abc import Callable

from fastapi import HTTPException, Request

from slamon.settings import Role, Settings


def token_role_checker(settings: Settings) -> Callable[[Role], Callable[[Request], None]]:
    tokens = [(t.encode(), roles) for t, roles in settings.token_roles().items()]

    def require(role: Role) -> Callable[[Request], None]:
        def check(request: Request) -> None:
            header = request.headers.get("authorization", "")
            scheme, _, presented = header.partition(" ")
            if scheme.lower() != "bearer" or not presented:
                raise _unauthorized("missing bearer token")
            given = presented.strip().encode()
            # Compare against every token, without stopping early, so timing says nothing.
            granted: set[Role] = set()
            for token, roles in tokens:
                if hmac.compare_digest(token, given):
                    granted |= roles
            if not granted:
                raise _unauthorized("invalid token")
            if role not in granted:
                raise HTTPException(403, detail={"error": f"token lacks the {role!r} role"})

        return check

    return require


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(401, detail={"error": message}, headers={"WWW-Authenticate": "Bearer"})
