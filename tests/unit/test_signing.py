"""Request signatures: the documented format, and every way verification must refuse."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from slamon.models.signing import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SignatureError,
    sign,
    signature_headers,
    verify,
)

SECRET = "shared-secret"
BODY = '{"account":"tb_buyer_1","points":5000,"reason":"未响应"}'.encode()
NOW = 1_795_684_800.0
TS = "1795684800"


def test_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    # The format other services implement from the docs; computed here independently.
    expected = hmac.new(SECRET.encode(), TS.encode() + b"." + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, TS, BODY) == f"sha256={expected}"


def test_headers_use_whole_seconds_and_verify() -> None:
    headers = signature_headers(SECRET, BODY, NOW + 0.9)
    assert headers[TIMESTAMP_HEADER] == TS
    verify(
        SECRET,
        BODY,
        timestamp=headers[TIMESTAMP_HEADER],
        signature=headers[SIGNATURE_HEADER],
        now=NOW,
    )


def test_bytes_and_str_secrets_sign_alike() -> None:
    assert sign(SECRET, TS, BODY) == sign(SECRET.encode(), TS, BODY)


@pytest.mark.parametrize(
    ("body", "timestamp", "secret"),
    [
        (BODY + b" ", TS, SECRET),  # body altered by one byte
        (BODY, str(int(TS) + 1), SECRET),  # timestamp altered (within tolerance)
        (BODY, TS, "another-secret"),
    ],
    ids=["tampered-body", "tampered-timestamp", "wrong-secret"],
)
def test_any_change_breaks_the_signature(body: bytes, timestamp: str, secret: str) -> None:
    signature = sign(SECRET, TS, BODY)
    with pytest.raises(SignatureError, match="does not match"):
        verify(secret, body, timestamp=timestamp, signature=signature, now=NOW)


@pytest.mark.parametrize(
    ("timestamp", "signature", "message"),
    [
        (None, "sha256=00", "missing X-Slamon-Timestamp"),
        (TS, None, "missing X-Slamon-Signature"),
        ("", "sha256=00", "missing X-Slamon-Timestamp"),
        ("1795684800.5", "sha256=00", "whole seconds"),
        ("-1", "sha256=00", "whole seconds"),
        (TS, "md5=00", "must start with 'sha256='"),
        (TS, "sha256=ü", "does not match"),  # non-ASCII must not crash compare_digest
    ],
)
def test_malformed_headers_are_refused_with_the_reason(
    timestamp: str | None, signature: str | None, message: str
) -> None:
    with pytest.raises(SignatureError, match=message):
        verify(SECRET, BODY, timestamp=timestamp, signature=signature, now=NOW)


@pytest.mark.parametrize("skew", [-301, 301])
def test_timestamps_outside_tolerance_are_refused(skew: int) -> None:
    timestamp = str(int(NOW) + skew)
    signature = sign(SECRET, timestamp, BODY)
    with pytest.raises(SignatureError, match="stale or replayed"):
        verify(SECRET, BODY, timestamp=timestamp, signature=signature, now=NOW)


@pytest.mark.parametrize("skew", [-300, 300])
def test_timestamps_at_the_tolerance_edge_are_accepted(skew: int) -> None:
    timestamp = str(int(NOW) + skew)
    signature = sign(SECRET, timestamp, BODY)
    verify(SECRET, BODY, timestamp=timestamp, signature=signature, now=NOW)


def test_empty_secret_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="secret is empty"):
        sign("", TS, BODY)
