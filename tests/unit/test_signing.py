"""Request signatures: the Standard Webhooks format (checked against the reference library),
key rotation, and every way verification must refuse."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from slamon.models.signing import (
    ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SecretError,
    SignatureError,
    SigningKeys,
    new_secret,
    sign,
    signature_headers,
    verify,
)

KEY = bytes(range(32))
SECRET = "whsec_" + base64.b64encode(KEY).decode()
OLD_SECRET = "whsec_" + base64.b64encode(bytes(range(100, 132))).decode()
KEYS = SigningKeys.parse(SECRET)
BODY = '{"account":"tb_buyer_1","points":5000,"reason":"未响应"}'.encode()
MSG_ID = "H20261126001:response"
NOW = 1_795_684_800.0
TS = "1795684800"


def test_signature_is_base64_hmac_sha256_of_id_dot_timestamp_dot_body() -> None:
    # The format the spec fixes; computed here independently.
    digest = hmac.new(KEY, f"{MSG_ID}.{TS}.".encode() + BODY, hashlib.sha256).digest()
    assert sign(KEYS, MSG_ID, TS, BODY) == "v1," + base64.b64encode(digest).decode()


def test_the_reference_library_verifies_our_headers() -> None:
    # standardwebhooks checks the timestamp against its own clock: sign at the real now.
    now = datetime.now(UTC).timestamp()
    headers = signature_headers(KEYS, MSG_ID, BODY, now)
    assert Webhook(SECRET).verify(BODY, headers) == {
        "account": "tb_buyer_1", "points": 5000, "reason": "未响应"}
    with pytest.raises(WebhookVerificationError):
        Webhook(OLD_SECRET).verify(BODY, headers)


def test_rotation_signs_with_every_secret_and_either_verifies() -> None:
    both = SigningKeys.parse(f"{SECRET}, {OLD_SECRET}")
    now = datetime.now(UTC).timestamp()
    headers = signature_headers(both, MSG_ID, BODY, now)
    assert len(headers[SIGNATURE_HEADER].split(" ")) == 2
    for secret in (SECRET, OLD_SECRET):
        Webhook(secret).verify(BODY, headers)  # a receiver on the old or on the new secret
        verify(SigningKeys.parse(secret), BODY, headers, now=now)
    # and a receiver holding both accepts a sender that has only one of them
    verify(both, BODY, signature_headers(SigningKeys.parse(OLD_SECRET), MSG_ID, BODY, now),
           now=now)


def test_headers_use_whole_seconds_and_verify_returning_the_id() -> None:
    headers = signature_headers(KEYS, MSG_ID, BODY, NOW + 0.9)
    assert headers[TIMESTAMP_HEADER] == TS
    assert headers[ID_HEADER] == MSG_ID
    upper = {name.upper(): value for name, value in headers.items()}  # names in any case
    assert verify(KEYS, BODY, upper, now=NOW) == MSG_ID


@pytest.mark.parametrize(
    ("body", "msg_id", "timestamp", "keys"),
    [
        (BODY + b" ", MSG_ID, TS, KEYS),  # body altered by one byte
        (BODY, "H20261126001:resolution", TS, KEYS),  # another id (idempotency key)
        (BODY, MSG_ID, str(int(TS) + 1), KEYS),  # timestamp altered (within tolerance)
        (BODY, MSG_ID, TS, SigningKeys.parse(OLD_SECRET)),
    ],
    ids=["tampered-body", "tampered-id", "tampered-timestamp", "wrong-secret"],
)
def test_any_change_breaks_the_signature(
    body: bytes, msg_id: str, timestamp: str, keys: SigningKeys
) -> None:
    headers = {ID_HEADER: msg_id, TIMESTAMP_HEADER: timestamp,
               SIGNATURE_HEADER: sign(KEYS, MSG_ID, TS, BODY)}
    with pytest.raises(SignatureError, match="no signature matches"):
        verify(keys, body, headers, now=NOW)


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({TIMESTAMP_HEADER: TS, SIGNATURE_HEADER: "v1,AA=="}, "missing webhook-id"),
        ({ID_HEADER: MSG_ID, SIGNATURE_HEADER: "v1,AA=="}, "missing webhook-timestamp"),
        ({ID_HEADER: MSG_ID, TIMESTAMP_HEADER: TS}, "missing webhook-signature"),
        ({ID_HEADER: MSG_ID, TIMESTAMP_HEADER: "1795684800.5", SIGNATURE_HEADER: "v1,AA=="},
         "whole seconds"),
        ({ID_HEADER: MSG_ID, TIMESTAMP_HEADER: "-1", SIGNATURE_HEADER: "v1,AA=="},
         "whole seconds"),
        ({ID_HEADER: MSG_ID, TIMESTAMP_HEADER: TS, SIGNATURE_HEADER: "v2,AA== sha256=00"},
         "no v1"),
        # non-ASCII must not crash compare_digest
        ({ID_HEADER: MSG_ID, TIMESTAMP_HEADER: TS, SIGNATURE_HEADER: "v1,ü"}, "no signature"),
    ],
)
def test_malformed_headers_are_refused_with_the_reason(
    headers: dict[str, str], message: str
) -> None:
    with pytest.raises(SignatureError, match=message):
        verify(KEYS, BODY, headers, now=NOW)


@pytest.mark.parametrize("skew", [-301, 301])
def test_timestamps_outside_tolerance_are_refused(skew: int) -> None:
    headers = signature_headers(KEYS, MSG_ID, BODY, NOW + skew)
    with pytest.raises(SignatureError, match="stale or replayed"):
        verify(KEYS, BODY, headers, now=NOW)


@pytest.mark.parametrize("skew", [-300, 300])
def test_timestamps_at_the_tolerance_edge_are_accepted(skew: int) -> None:
    verify(KEYS, BODY, signature_headers(KEYS, MSG_ID, BODY, NOW + skew), now=NOW)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "no signing secret"),
        ("shared-secret", "must start with 'whsec_'"),
        ("whsec_not*base64", "base64"),
        ("whsec_" + base64.b64encode(b"short").decode(), "24 to 64 bytes, this one 5"),
        (f"{SECRET} plain", "must start with 'whsec_'"),
    ],
)
def test_bad_secrets_are_refused_without_quoting_them(value: str, message: str) -> None:
    with pytest.raises(SecretError, match=message) as caught:
        SigningKeys.parse(value)
    if value:
        assert value.split()[-1] not in str(caught.value)


def test_new_secrets_parse_and_keys_never_show_in_repr() -> None:
    keys = SigningKeys.parse(new_secret())
    assert len(keys.keys[0]) == 32
    assert repr(keys) == "SigningKeys(<1 secret(s)>)"
    # unpadded base64 (as some tools print it) is accepted too
    assert SigningKeys.parse(SECRET.rstrip("=")) == KEYS
