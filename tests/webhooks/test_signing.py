"""Signing and the receivers' verify helper, against the example the Standard Webhooks
reference libraries publish in their tests (github.com/standard-webhooks/standard-webhooks,
libraries/python/tests/test_webhooks.py: ``test_sign_function``, and the other libraries' "sign
function works"), and against what a receiver must refuse (the same suite's cases: missing
headers, a changed signature, old and future timestamps, several signatures, the optional
``whsec_`` prefix)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest

from postroom.errors import PostroomError, WebhookError, WebhookVerificationError
from postroom.webhooks import new_secret, sign, verify
from postroom.webhooks.signing import decode_secret, signed_headers

# The published example: secret, id, timestamp, body and the signature they give.
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
MSG_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
TIMESTAMP = 1614265330
BODY = b'{"test": 2432232314}'
SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
AT = datetime.fromtimestamp(TIMESTAMP, UTC)


def headers(signature: str = SIGNATURE, timestamp: int = TIMESTAMP) -> dict[str, str]:
    return {
        "webhook-id": MSG_ID,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature,
    }


def test_the_published_example_is_signed_as_published() -> None:
    assert sign(SECRET, MSG_ID, TIMESTAMP, BODY) == SIGNATURE
    # The prefix is optional, as in the reference libraries.
    assert sign(SECRET.removeprefix("whsec_"), MSG_ID, TIMESTAMP, BODY) == SIGNATURE
    assert signed_headers(SECRET, MSG_ID, AT, BODY).items() == tuple(headers().items())


def test_the_published_example_verifies_and_gives_its_json() -> None:
    assert verify(SECRET, headers(), BODY, now=AT) == {"test": 2432232314}
    assert verify(SECRET, headers(), BODY.decode(), now=AT + timedelta(minutes=4)) == {
        "test": 2432232314
    }
    # Header names in any case (HTTP field names are case-insensitive, RFC 9110 5.1).
    upper = {k.upper(): v for k, v in headers().items()}
    assert verify(SECRET, upper, BODY, now=AT)["test"] == 2432232314


def test_one_matching_signature_among_several_verifies() -> None:
    # Secret rotation: the header lists signatures separated by spaces.
    other = "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc="
    listed = f"{other} v2,{SIGNATURE[3:]} {SIGNATURE} {other}"
    assert verify(SECRET, headers(listed), BODY, now=AT) == {"test": 2432232314}


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA="}, "matches"),
        ({"webhook-signature": "v2," + SIGNATURE[3:]}, "matches"),
        ({"webhook-signature": SIGNATURE[3:]}, "matches"),
        ({"webhook-signature": ""}, "matches"),
        ({"webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJel"}, "matches"),
        ({"webhook-timestamp": str(TIMESTAMP + 1)}, "matches"),
        ({"webhook-timestamp": "hello"}, "Unix time"),
        ({"webhook-timestamp": "-1614265330"}, "Unix time"),
    ],
)
def test_a_changed_header_fails(change: dict[str, str], reason: str) -> None:
    with pytest.raises(WebhookVerificationError, match=reason):
        verify(SECRET, {**headers(), **change}, BODY, now=AT)


@pytest.mark.parametrize("name", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_a_missing_header_fails(name: str) -> None:
    given = headers()
    del given[name]
    with pytest.raises(WebhookVerificationError, match=name):
        verify(SECRET, given, BODY, now=AT)


def test_a_changed_body_or_another_secret_fails() -> None:
    with pytest.raises(WebhookVerificationError):
        verify(SECRET, headers(), b'{"test":2432232314}', now=AT)  # one space less
    with pytest.raises(WebhookVerificationError):
        verify(new_secret(), headers(), BODY, now=AT)


def test_timestamps_outside_the_tolerance_fail() -> None:
    with pytest.raises(WebhookVerificationError, match="too old"):
        verify(SECRET, headers(), BODY, now=AT + timedelta(minutes=5, seconds=1))
    with pytest.raises(WebhookVerificationError, match="future"):
        verify(SECRET, headers(), BODY, now=AT - timedelta(minutes=5, seconds=1))
    assert verify(
        SECRET, headers(), BODY, now=AT + timedelta(hours=1), tolerance=timedelta(hours=2)
    )


def test_the_errors_are_one_branch_of_the_tree() -> None:
    assert issubclass(WebhookVerificationError, WebhookError)
    assert issubclass(WebhookError, PostroomError)


def test_new_secrets_are_whsec_and_32_random_bytes() -> None:
    first, second = new_secret(), new_secret()
    assert first.startswith("whsec_") and first != second
    assert len(decode_secret(first)) == 32
    assert decode_secret(first) == base64.b64decode(first.removeprefix("whsec_"))
    for bad in ("whsec_not base64!", "whsec_" + base64.b64encode(b"short").decode()):
        with pytest.raises(ValueError):
            decode_secret(bad)


def test_endpoints_subscribe_to_the_whole_taxonomy() -> None:
    from postroom.outcomes import EventType
    from postroom.webhooks import EVENT_TYPES

    assert tuple(str(t) for t in EventType) == EVENT_TYPES


def test_the_example_in_the_docs_verifies() -> None:
    from pathlib import Path

    text = (Path(__file__).parents[2] / "docs" / "webhooks.md").read_text()
    block = text.split("```http\n", 1)[1].split("```", 1)[0]
    head, body = block.split("\n\n", 1)
    given = dict(line.split(": ", 1) for line in head.splitlines()[1:])
    secret = text.split("with the secret `", 1)[1].split("`", 1)[0]
    at = datetime.fromtimestamp(int(given["webhook-timestamp"]), UTC)
    event = verify(secret, given, body.rstrip("\n").encode(), now=at)
    assert event["type"] == "bounced" and event["data"]["id"] == 812
