"""Signatures as a Standard Webhooks receiver checks them (the standardwebhooks library)."""

from __future__ import annotations

import time

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from chatmina.webhooks import signing


def test_a_signed_body_verifies_with_the_standardwebhooks_library() -> None:
    secret = signing.new_secret()
    body = b'{"type":"message.created","data":{"id":"m_1"}}'
    headers = signing.signature_headers([secret], signing.new_message_id(), int(time.time()), body)
    assert Webhook(secret).verify(body, headers) == {
        "type": "message.created",
        "data": {"id": "m_1"},
    }


def test_a_changed_body_or_another_secret_does_not_verify() -> None:
    secret = signing.new_secret()
    headers = signing.signature_headers([secret], "msg_1", int(time.time()), b'{"a":1}')
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(b'{"a":2}', headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(signing.new_secret()).verify(b'{"a":1}', headers)


def test_during_a_rotation_both_secrets_sign_and_each_verifies() -> None:
    new, old = signing.new_secret(), signing.new_secret()
    body = b"{}"
    headers = signing.signature_headers([new, old], "msg_2", int(time.time()), body)
    assert len(headers["webhook-signature"].split(" ")) == 2
    Webhook(new).verify(body, headers)
    Webhook(old).verify(body, headers)


def test_secrets_and_message_ids_are_random_and_well_formed() -> None:
    secrets = {signing.new_secret() for _ in range(50)}
    assert len(secrets) == 50 and all(s.startswith("whsec_") for s in secrets)
    ids = {signing.new_message_id() for _ in range(50)}
    assert len(ids) == 50 and all(i.startswith("msg_") for i in ids)


def test_a_malformed_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="base64"):
        signing.sign("whsec_not base64!", "msg_1", 1, b"")
    with pytest.raises(ValueError, match="at least one"):
        signing.signature_headers([], "msg_1", 1, b"")
