"""The accounts service without HTTP: passwords, sessions, links, roles, keys, isolation.

Alice owns workspace A, Bob is an agent in A, Charlie owns workspace B.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

import pytest
from sqlalchemy import select, text

from chatmina import clock
from chatmina.accounts import service as accounts
from chatmina.accounts.models import Invitation, LoginSession, User
from chatmina.accounts.passwords import Passwords
from chatmina.accounts.tokens import InvalidToken
from chatmina.errors import Conflict, Forbidden, NotFound
from chatmina.ui.context import Services
from tests.conftest import PASSWORD, Personas

NEW_PASSWORD = "a new and better passphrase"


def password_hash(services: Services, user_id: int) -> str:
    with services.db.read() as s:
        return s.get_one(User, user_id).password_hash


def login(services: Services, user_id: int) -> str:
    return accounts.start_session(
        services.db, services.keys, services.session_policy, user_id, "192.0.2.1", "pytest"
    )


def is_live(services: Services, token: str, policy: accounts.SessionPolicy | None = None) -> bool:
    policy = policy or services.session_policy
    return accounts.find_session(services.db, services.keys, policy, token) is not None


def role_in(services: Services, workspace_id: int, user_id: int) -> str | None:
    roles = {m.user_id: m.role for m in accounts.list_members(services.db, workspace_id)}
    return roles.get(user_id)


def invite(
    services: Services, p: Personas, email: str, role: str = "agent"
) -> tuple[Invitation, str]:
    return accounts.invite(services.db, services.keys, p.a_id, p.alice_id, "owner", email, role)


# -- passwords ---------------------------------------------------------------------------


def test_a_password_is_stored_as_an_argon2id_hash(services: Services, personas: Personas) -> None:
    stored = password_hash(services, personas.alice_id)
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored


def test_a_login_rehashes_a_password_hashed_with_other_parameters(
    services: Services, personas: Personas
) -> None:
    cheap = password_hash(services, personas.alice_id)
    strong = Passwords("rfc9106-low-memory")
    user = accounts.authenticate(services.db, strong, "Alice@Example.com ", PASSWORD)
    assert user is not None and user.id == personas.alice_id
    rehashed = password_hash(services, personas.alice_id)
    assert rehashed != cheap
    assert "m=65536,t=3,p=4" in rehashed
    assert strong.verify(rehashed, PASSWORD)
    assert not strong.needs_rehash(rehashed)


def test_a_wrong_password_or_unknown_email_does_not_authenticate(
    services: Services, personas: Personas
) -> None:
    db, pw = services.db, services.passwords
    assert accounts.authenticate(db, pw, "alice@example.com", PASSWORD + "!") is None
    assert accounts.authenticate(db, pw, "nobody@example.com", PASSWORD) is None


# -- sessions ----------------------------------------------------------------------------


def test_a_session_ends_after_the_idle_time(services: Services, personas: Personas) -> None:
    token = login(services, personas.alice_id)
    idle = services.session_policy.idle
    clock.travel(idle - dt.timedelta(minutes=2))
    assert is_live(services, token)  # and that use restarts the idle time
    clock.travel(idle - dt.timedelta(minutes=2))
    assert is_live(services, token)
    clock.travel(idle)
    assert not is_live(services, token)
    assert accounts.list_sessions(services.db, personas.alice_id) == []


def test_a_session_ends_at_the_absolute_limit_even_when_used(
    services: Services, personas: Personas
) -> None:
    policy = accounts.SessionPolicy(idle=dt.timedelta(hours=1), absolute=dt.timedelta(hours=3))
    token = accounts.start_session(services.db, services.keys, policy, personas.bob_id, "", "")
    for _ in range(3):
        clock.travel(dt.timedelta(minutes=50))
        assert is_live(services, token, policy)
    clock.travel(dt.timedelta(minutes=50))  # 200 minutes after login
    assert not is_live(services, token, policy)


def test_ending_all_sessions_ends_only_that_users_sessions(
    services: Services, personas: Personas
) -> None:
    alice_tokens = [login(services, personas.alice_id) for _ in range(2)]
    bob_token = login(services, personas.bob_id)
    assert accounts.end_all_sessions(services.db, personas.alice_id) == 2
    assert not any(is_live(services, t) for t in alice_tokens)
    assert is_live(services, bob_token)


def test_only_a_keyed_hash_of_the_session_token_is_stored(
    services: Services, personas: Personas
) -> None:
    token = login(services, personas.alice_id)
    with services.db.read() as s:
        stored = s.scalars(select(LoginSession.token_hash)).all()
    assert len(stored) == 1 and token not in stored[0]


# -- invitation and reset links ----------------------------------------------------------


def test_an_invitation_works_once(services: Services, personas: Personas) -> None:
    db, keys, pw = services.db, services.keys, services.passwords
    _, token = invite(services, personas, "dana@example.com")
    user, workspace = accounts.accept_invitation(
        db, keys, pw, token, name="Dana", password=PASSWORD
    )
    assert workspace.id == personas.a_id
    assert role_in(services, personas.a_id, user.id) == "agent"
    with pytest.raises(InvalidToken, match="already been used"):
        accounts.accept_invitation(db, keys, pw, token, name="Eve", password=PASSWORD)


def test_an_invitation_expires_after_seven_days(services: Services, personas: Personas) -> None:
    _, token = invite(services, personas, "dana@example.com")
    clock.travel(dt.timedelta(days=7) - dt.timedelta(minutes=1))
    assert accounts.find_invitation(services.db, services.keys, token).invitation.email == (
        "dana@example.com"
    )
    clock.travel(dt.timedelta(minutes=2))
    with pytest.raises(InvalidToken, match="expired"):
        accounts.find_invitation(services.db, services.keys, token)


def test_a_link_only_works_for_its_purpose(services: Services, personas: Personas) -> None:
    db, keys = services.db, services.keys
    found = accounts.request_password_reset(db, keys, "alice@example.com")
    assert found is not None
    _, invitation_token = invite(services, personas, "dana@example.com")
    with pytest.raises(InvalidToken):
        accounts.find_invitation(db, keys, found[1])
    with pytest.raises(InvalidToken):
        accounts.accept_invitation(
            db, keys, services.passwords, found[1], user_id=personas.alice_id
        )
    with pytest.raises(InvalidToken):
        accounts.check_reset_token(db, keys, invitation_token)


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda t: t[:-1] + ("0" if t[-1] != "0" else "1"), id="signature"),
        pytest.param(lambda t: t[:-1] + "é", id="non-ASCII signature"),  # a mangled paste
        pytest.param(lambda t: t.replace(".", ".x", 1), id="nonce"),
        pytest.param(lambda t: str(int(t.split(".")[0]) + 1) + t[t.index(".") :], id="row id"),
        pytest.param(lambda t: t.rsplit(".", 1)[0], id="incomplete"),
    ],
)
def test_a_tampered_link_is_rejected(
    services: Services, personas: Personas, tamper: Callable[[str], str]
) -> None:
    _, token = invite(services, personas, "dana@example.com")
    with pytest.raises(InvalidToken):
        accounts.find_invitation(services.db, services.keys, tamper(token))
    assert accounts.find_invitation(services.db, services.keys, token)  # the real one works


def test_a_reset_link_works_once_and_ends_every_session(
    services: Services, personas: Personas
) -> None:
    db, keys, pw = services.db, services.keys, services.passwords
    session = login(services, personas.alice_id)
    found = accounts.request_password_reset(db, keys, "alice@example.com")
    assert found is not None
    accounts.reset_password(db, keys, pw, found[1], NEW_PASSWORD)
    assert not is_live(services, session)
    assert accounts.authenticate(db, pw, "alice@example.com", NEW_PASSWORD) is not None
    assert accounts.authenticate(db, pw, "alice@example.com", PASSWORD) is None
    with pytest.raises(InvalidToken, match="already been used"):
        accounts.reset_password(db, keys, pw, found[1], "yet another passphrase")


def test_a_reset_link_expires_after_an_hour(services: Services, personas: Personas) -> None:
    db, keys = services.db, services.keys
    found = accounts.request_password_reset(db, keys, "alice@example.com")
    assert found is not None
    clock.travel(dt.timedelta(minutes=59))
    assert accounts.check_reset_token(db, keys, found[1]).id == personas.alice_id
    clock.travel(dt.timedelta(minutes=2))
    with pytest.raises(InvalidToken, match="expired"):
        accounts.reset_password(db, keys, services.passwords, found[1], NEW_PASSWORD)
    assert accounts.authenticate(db, services.passwords, "alice@example.com", PASSWORD)


def test_a_reset_for_an_unknown_email_gives_nothing(services: Services, personas: Personas) -> None:
    assert accounts.request_password_reset(services.db, services.keys, "x@example.com") is None


# -- roles and membership ----------------------------------------------------------------


def test_an_admin_cannot_invite_or_make_owners(services: Services, personas: Personas) -> None:
    db, keys, a = services.db, services.keys, personas.a_id
    with pytest.raises(Forbidden):
        accounts.invite(db, keys, a, personas.bob_id, "admin", "dana@example.com", "owner")
    with pytest.raises(Forbidden):
        accounts.change_role(db, a, "admin", personas.bob_id, "owner")
    with pytest.raises(Forbidden):
        accounts.change_role(db, a, "admin", personas.alice_id, "agent")
    with pytest.raises(Forbidden):
        accounts.remove_member(db, a, "admin", personas.alice_id)
    assert role_in(services, a, personas.alice_id) == "owner"
    accounts.change_role(db, a, "admin", personas.bob_id, "admin")  # but manages the others
    assert role_in(services, a, personas.bob_id) == "admin"


def test_an_agent_cannot_change_or_invite_anyone(services: Services, personas: Personas) -> None:
    db, a = services.db, personas.a_id
    with pytest.raises(Forbidden):
        accounts.change_role(db, a, "agent", personas.bob_id, "admin")
    with pytest.raises(Forbidden):
        accounts.invite(db, services.keys, a, personas.bob_id, "agent", "dana@example.com", "agent")
    assert accounts.list_invitations(db, a) == []


def test_the_last_owner_cannot_be_demoted_or_removed(
    services: Services, personas: Personas
) -> None:
    db, a, alice = services.db, personas.a_id, personas.alice_id
    with pytest.raises(Conflict):
        accounts.change_role(db, a, "owner", alice, "admin")
    with pytest.raises(Conflict):
        accounts.remove_member(db, a, "owner", alice)
    assert role_in(services, a, alice) == "owner"
    accounts.change_role(db, a, "owner", personas.bob_id, "owner")
    accounts.change_role(db, a, "owner", alice, "admin")  # no longer the last one
    assert role_in(services, a, alice) == "admin"


def test_inviting_a_member_again_is_a_conflict(services: Services, personas: Personas) -> None:
    with pytest.raises(Conflict):
        invite(services, personas, "BOB@example.com")


def test_an_invitation_for_someone_else_cannot_be_accepted(
    services: Services, personas: Personas
) -> None:
    db, keys, pw = services.db, services.keys, services.passwords
    _, token = invite(services, personas, "charlie@example.com", "admin")
    with pytest.raises(Forbidden, match=re.escape("charlie@example.com")):
        accounts.accept_invitation(db, keys, pw, token, user_id=personas.bob_id)
    assert role_in(services, personas.a_id, personas.bob_id) == "agent"
    accounts.accept_invitation(db, keys, pw, token, user_id=personas.charlie_id)  # still usable
    assert role_in(services, personas.a_id, personas.charlie_id) == "admin"


def test_workspaces_with_the_same_name_get_different_slugs_and_ids(
    services: Services, personas: Personas
) -> None:
    again = accounts.create_workspace(services.db, personas.charlie_id, "Acme Support")
    third = accounts.create_workspace(services.db, personas.charlie_id, "Acme  support!")
    assert [again.slug, third.slug] == ["acme-support-2", "acme-support-3"]
    all_ids = [w.public_id for w, _ in accounts.workspaces_of(services.db, personas.charlie_id)]
    all_ids += [w.public_id for w, _ in accounts.workspaces_of(services.db, personas.alice_id)]
    assert len(set(all_ids)) == len(all_ids) == 4


# -- API keys ----------------------------------------------------------------------------


def test_only_a_keyed_hash_of_an_api_key_is_stored(services: Services, personas: Personas) -> None:
    assert personas.a_key.startswith("cm_")
    with services.db.read() as s:
        rows = s.execute(text("SELECT * FROM api_keys")).all()
    stored = " ".join(str(value) for row in rows for value in row)
    assert personas.a_key not in stored
    assert personas.a_key[3:] not in stored
    assert personas.a_key[-20:] not in stored


def test_a_revoked_api_key_no_longer_authenticates(services: Services, personas: Personas) -> None:
    db, keys = services.db, services.keys
    workspace = accounts.workspace_for_api_key(db, keys, personas.a_key)
    assert workspace is not None and workspace.id == personas.a_id
    [row] = accounts.list_api_keys(db, personas.a_id)
    accounts.revoke_api_key(db, personas.a_id, row.id)
    assert accounts.workspace_for_api_key(db, keys, personas.a_key) is None
    assert accounts.workspace_for_api_key(db, keys, personas.b_key) is not None
    assert accounts.workspace_for_api_key(db, keys, "cm_" + "x" * 40) is None


# -- workspace isolation -----------------------------------------------------------------


def _revoke_invitation(svc: Services, p: Personas) -> None:
    [pending] = accounts.list_invitations(svc.db, p.a_id)
    accounts.revoke_invitation(svc.db, p.b_id, pending.id)


def _revoke_api_key(svc: Services, p: Personas) -> None:
    [key] = accounts.list_api_keys(svc.db, p.a_id)
    accounts.revoke_api_key(svc.db, p.b_id, key.id)


@pytest.mark.parametrize(
    "attempt",
    [
        pytest.param(_revoke_invitation, id="revoke invitation"),
        pytest.param(_revoke_api_key, id="revoke API key"),
        pytest.param(
            lambda svc, p: accounts.change_role(svc.db, p.b_id, "owner", p.bob_id, "owner"),
            id="promote Bob",
        ),
        pytest.param(
            lambda svc, p: accounts.change_role(svc.db, p.b_id, "owner", p.alice_id, "agent"),
            id="demote Alice",
        ),
        pytest.param(
            lambda svc, p: accounts.remove_member(svc.db, p.b_id, "owner", p.bob_id),
            id="remove Bob",
        ),
        pytest.param(
            lambda svc, p: accounts.remove_member(svc.db, p.b_id, "owner", p.alice_id),
            id="remove Alice",
        ),
    ],
)
def test_workspace_b_cannot_touch_workspace_a(
    services: Services, personas: Personas, attempt: Callable[[Services, Personas], None]
) -> None:
    invite(services, personas, "dana@example.com")
    members_before = accounts.list_members(services.db, personas.a_id)
    with pytest.raises(NotFound):
        attempt(services, personas)
    assert accounts.list_members(services.db, personas.a_id) == members_before
    assert [i.email for i in accounts.list_invitations(services.db, personas.a_id)] == [
        "dana@example.com"
    ]
    assert accounts.workspace_for_api_key(services.db, services.keys, personas.a_key) is not None
