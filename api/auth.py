"""Bearer tokens with roles (*produce*, *read*, *operate*), compared in constant time.

A route that needs a role depends on ``require(role)``, which answers 401/403 or returns the
:class:`~slamon.settings.Caller`: the token's *name*, which operator actions record in the
audit trail (a token's value is never stored or shown).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable

from fastapi import HTTPException, Request

from slamon.settings import Caller, Role, Settings

Require = Callable[[Role], Callable[[Request], Caller]]


def token_caller(settings: Settings) -> Callable[[Request], Caller]:
    """Who presented the request's bearer token; 401 without one or with an unknown one."""
    tokens = [(t.encode(), caller) for t, caller in settings.callers().items()]

    def identify(request: Request) -> Caller:
        header = request.headers.get("authorization", "")
        scheme, _, presented = header.partition(" ")
        if scheme.lower() != "bearer" or not presented:
            raise _unauthorized("missing bearer token")
        given = presented.strip().encode()
        # Compare against every token, without stopping early, so timing says nothing.
        found: Caller | None = None
        for token, caller in tokens:
            if hmac.compare_digest(token, given):
                found = caller
        if found is None:
            raise _unauthorized("invalid token")
        return found

    return identify


def token_role_checker(settings: Settings) -> Require:
    identify = token_caller(settings)

    def require(role: Role) -> Callable[[Request], Caller]:
        def check(request: Request) -> Caller:
            found = identify(request)
            if role not in found.roles:
                raise HTTPException(403, detail={"error": f"token lacks the {role!r} role"})
            return found

        return check

    return require


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(401, detail={"error": message}, headers={"WWW-Authenticate": "Bearer"})
