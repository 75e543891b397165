"""Rotating the master key re-encrypts endpoint secrets (the current and the previous one)."""

from __future__ import annotations

from chatmina import clock
from chatmina.app import build_services
from chatmina.settings import Settings
from chatmina.storage import rekey
from chatmina.storage.db import Database
from chatmina.storage.keys import load_keys
from chatmina.webhooks import service
from tests.ops.test_keys import file_keyed  # noqa: F401 (the fixture)


def test_endpoint_secrets_still_sign_after_a_master_key_rotation(file_keyed: Settings) -> None:  # noqa: F811
    services = build_services(file_keyed)
    workspace_id = 1
    service.save_private_hosts(services.db, workspace_id, "127.0.0.1:9")
    endpoint, first = service.create_endpoint(
        services.db, services.keys, services.settings, workspace_id,
        service.EndpointInput("http://127.0.0.1:9/hooks", ["*"]),
    )  # fmt: skip
    _, second = service.rotate_secret(services.db, services.keys, workspace_id, endpoint.public_id)
    services.db.close()

    rekey.rotate_master_key(file_keyed)

    new = load_keys(file_keyed, create=False)
    db = Database.open(file_keyed.data_path, new)
    try:
        rotated = service.get_endpoint(db, workspace_id, endpoint.public_id)
        assert service.signing_secrets(new, rotated, clock.now()) == [second, first]
    finally:
        db.close()
