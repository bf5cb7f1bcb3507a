"""HMAC-SHA256 signatures for the calls slamon makes to other services.

The points service (and, later, webhook receivers) must be able to tell that a request came
from slamon and was not altered or replayed. The scheme, modelled on Stripe's and GitHub's
webhook signatures:

    X-Slamon-Timestamp: <Unix time in whole seconds, e.g. 1795684800>
    X-Slamon-Signature: sha256=<lowercase hex HMAC-SHA256(secret, f"{timestamp}.{body}")>

The signed string is the timestamp's ASCII digits, one ``.`` and then the *exact* body bytes
sent on the wire (not a re-serialisation of the JSON: key order and spacing would differ).
Signing the timestamp together with the body lets a receiver refuse an old request that was
captured and sent again (``tolerance_seconds``), which a signature of the body alone cannot.

Receivers compare signatures in constant time (:func:`hmac.compare_digest`) so that the time a
comparison takes does not reveal how many leading characters of a forged signature were right.
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Slamon-Signature"
TIMESTAMP_HEADER = "X-Slamon-Timestamp"
SCHEME = "sha256"
DEFAULT_TOLERANCE_SECONDS = 300


class SignatureError(ValueError):
    """A request's signature is missing, malformed, stale or wrong; the message says which."""


def _key(secret: str | bytes) -> bytes:
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    if not key:
        raise ValueError("the signing secret is empty; set a shared secret on both sides")
    return key


def signed_message(timestamp: str, body: bytes) -> bytes:
    """The exact bytes that are signed: ``b"<timestamp>.<body>"``."""
    return timestamp.encode("ascii") + b"." + body


def sign(secret: str | bytes, timestamp: str, body: bytes) -> str:
    """The value of the signature header for ``body`` sent at ``timestamp``: ``sha256=<hex>``."""
    digest = hmac.new(_key(secret), signed_message(timestamp, body), hashlib.sha256).hexdigest()
    return f"{SCHEME}={digest}"


def signature_headers(secret: str | bytes, body: bytes, now: float) -> dict[str, str]:
    """Both headers a signed request carries, for ``body`` sent at Unix time ``now``."""
    timestamp = str(int(now))
    return {TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: sign(secret, timestamp, body)}


def verify(
    secret: str | bytes,
    body: bytes,
    *,
    timestamp: str | None,
    signature: str | None,
    now: float,
    tolerance_seconds: float = DEFAULT_TOLERANCE_SECONDS,
) -> None:
    """Check a received request's signature; raise :class:`SignatureError` saying why not.

    1. Both headers must be present, the timestamp whole seconds, the signature ``sha256=``.
    2. The timestamp must lie within ``tolerance_seconds`` of ``now`` (either side, to allow
       for clock skew): an older request is a possible replay.
    3. The signature must equal our own signature of ``timestamp.body``, compared in
       constant time.
    """
    if not timestamp:
        raise SignatureError(f"missing {TIMESTAMP_HEADER} header")
    if not signature:
        raise SignatureError(f"missing {SIGNATURE_HEADER} header")
    if not timestamp.isascii() or not timestamp.isdigit():
        raise SignatureError(f"{TIMESTAMP_HEADER} must be Unix time in whole seconds")
    if not signature.startswith(f"{SCHEME}="):
        raise SignatureError(f"{SIGNATURE_HEADER} must start with '{SCHEME}='")
    skew = abs(now - int(timestamp))
    if skew > tolerance_seconds:
        raise SignatureError(
            f"{TIMESTAMP_HEADER} is {skew:.0f} s away from now "
            f"(tolerance {tolerance_seconds:.0f} s): stale or replayed request, or clock skew"
        )
    expected = sign(secret, timestamp, body)
    # Compare bytes: compare_digest refuses non-ASCII str, and a forged header may carry any.
    if not hmac.compare_digest(expected.encode("ascii"), signature.encode("utf-8")):
        raise SignatureError("signature does not match the body; check the shared secret")
