"""Signatures of the calls slamon makes: the Standard Webhooks scheme (standardwebhooks.com).

Webhook receivers and the HTTP points service must be able to tell that a request came from
slamon, was not altered, and is not an old one sent again. Both get the same three headers:

    webhook-id: <the message id: an outbox message id, or a grant's idempotency key>
    webhook-timestamp: <Unix time in whole seconds, e.g. 1795684800>
    webhook-signature: v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")> [v1,<…> …]

The signed content is the id, the timestamp's digits and the *exact* body bytes sent on the
wire, joined by ``.``; signing the id and the timestamp together with the body means a
captured request cannot be replayed later (``tolerance_seconds``) nor re-labelled (a grant's
idempotency key is its id: the key and the body are signed as one).

Secrets are ``whsec_`` followed by the base64 of 24 to 64 random bytes (the spec's format, so
any Standard Webhooks library verifies our calls). Several secrets may be configured at once,
separated by spaces or commas: every request is signed with each (several ``v1,…`` values in
one header), and a receiver accepts a request if any signature matches one of its keys. That
is how a secret is rotated without a moment where calls fail (README, "Security").

Signatures are compared in constant time (:func:`hmac.compare_digest`) so that the time a
comparison takes does not reveal how much of a forged signature was right.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
SECRET_PREFIX = "whsec_"
VERSION = "v1"
MIN_KEY_BYTES = 24
MAX_KEY_BYTES = 64
DEFAULT_TOLERANCE_SECONDS = 300
_SEPARATORS = re.compile(r"[\s,]+")


class SecretError(ValueError):
    """A configured secret is not ``whsec_<base64>`` of an acceptable length; never quotes it."""


class SignatureError(ValueError):
    """A request's signature is missing, malformed, stale or wrong; the message says which."""


@dataclass(frozen=True)
class SigningKeys:
    """One or several HMAC keys (the first is the newest); ``repr`` never shows them."""

    keys: tuple[bytes, ...]

    def __post_init__(self) -> None:
        if not self.keys:
            raise SecretError("no signing secret given")

    @classmethod
    def parse(cls, value: str) -> SigningKeys:
        """Keys from ``whsec_…`` secrets separated by spaces or commas."""
        return cls(tuple(_decode(secret) for secret in _SEPARATORS.split(value.strip()) if secret))

    def __repr__(self) -> str:
        return f"SigningKeys(<{len(self.keys)} secret(s)>)"


def _decode(secret: str) -> bytes:
    if not secret.startswith(SECRET_PREFIX):
        raise SecretError(f"a secret must start with {SECRET_PREFIX!r} (see `slamon secret`)")
    encoded = secret[len(SECRET_PREFIX):]
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise SecretError(f"a secret must be {SECRET_PREFIX} and then base64") from None
    if not MIN_KEY_BYTES <= len(key) <= MAX_KEY_BYTES:
        raise SecretError(
            f"a secret must hold {MIN_KEY_BYTES} to {MAX_KEY_BYTES} bytes, this one {len(key)}"
        )
    return key


def new_secret(nbytes: int = 32) -> str:
    """A fresh random secret in the ``whsec_`` format."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(nbytes)).decode("ascii")


def signed_content(msg_id: str, timestamp: str, body: bytes) -> bytes:
    """The exact bytes that are signed: ``b"<id>.<timestamp>.<body>"``."""
    return f"{msg_id}.{timestamp}.".encode() + body


def sign(keys: SigningKeys, msg_id: str, timestamp: str, body: bytes) -> str:
    """The ``webhook-signature`` value: one ``v1,<base64>`` per key, separated by spaces."""
    content = signed_content(msg_id, timestamp, body)
    return " ".join(
        f"{VERSION},{base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()}"
        for key in keys.keys
    )


def signature_headers(keys: SigningKeys, msg_id: str, body: bytes, now: float) -> dict[str, str]:
    """The three headers of a signed request for ``body`` sent at Unix time ``now``."""
    timestamp = str(int(now))
    return {
        ID_HEADER: msg_id,
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: sign(keys, msg_id, timestamp, body),
    }


def verify(
    keys: SigningKeys,
    body: bytes,
    headers: Mapping[str, str],
    *,
    now: float,
    tolerance_seconds: float = DEFAULT_TOLERANCE_SECONDS,
) -> str:
    """Check a received request; its ``webhook-id``, or :class:`SignatureError` saying why not.

    1. The three headers must be present (names in any case), the timestamp whole seconds.
    2. The timestamp must lie within ``tolerance_seconds`` of ``now`` (either side, for clock
       skew): an older request is a possible replay.
    3. One of the ``v1`` signatures must equal ours under one of ``keys``, compared in
       constant time; signatures of other versions are ignored, as the spec says.
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    msg_id = lowered.get(ID_HEADER)
    timestamp = lowered.get(TIMESTAMP_HEADER)
    signatures = lowered.get(SIGNATURE_HEADER)
    for name, value in ((ID_HEADER, msg_id), (TIMESTAMP_HEADER, timestamp),
                        (SIGNATURE_HEADER, signatures)):
        if not value:
            raise SignatureError(f"missing {name} header")
    assert msg_id is not None and timestamp is not None and signatures is not None
    if not timestamp.isascii() or not timestamp.isdigit():
        raise SignatureError(f"{TIMESTAMP_HEADER} must be Unix time in whole seconds")
    skew = abs(now - int(timestamp))
    if skew > tolerance_seconds:
        raise SignatureError(
            f"{TIMESTAMP_HEADER} is {skew:.0f} s away from now "
            f"(tolerance {tolerance_seconds:.0f} s): stale or replayed request, or clock skew"
        )
    presented = [
        value.encode("utf-8")
        for version, _, value in (s.partition(",") for s in signatures.split())
        if version == VERSION
    ]
    if not presented:
        raise SignatureError(f"{SIGNATURE_HEADER} holds no {VERSION},<base64> signature")
    expected = sign(keys, msg_id, timestamp, body).split()
    # Every pair is compared (no early exit), so the timing does not tell which key matched.
    matched = False
    for ours in expected:
        for theirs in presented:
            matched |= hmac.compare_digest(ours[len(VERSION) + 1:].encode("ascii"), theirs)
    if not matched:
        raise SignatureError("no signature matches the body; check the shared secret")
    return msg_id
