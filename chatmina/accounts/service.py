"""Accounts: users, workspaces, memberships, sessions, invitations, password resets, API keys.

Every function that touches a workspace's rows takes the workspace id and filters by it;
callers get that id only from a membership check or an API key, never from user input.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from chatmina import clock
from chatmina.accounts import tokens
from chatmina.accounts.models import (
    ApiKey,
    Invitation,
    LoginSession,
    Membership,
    OneTimeToken,
    User,
    Workspace,
)
from chatmina.accounts.passwords import Passwords, check_new_password
from chatmina.accounts.roles import Role, can_manage_role
from chatmina.errors import Conflict, Forbidden, NotFound, UserError
from chatmina.storage.crypto import keyed_hash
from chatmina.storage.db import Database
from chatmina.storage.keys import Keys

INVITATION_LIFETIME = dt.timedelta(days=7)
RESET_LIFETIME = dt.timedelta(hours=1)
_EMAIL = re.compile(r"^[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[^@\s<>\"',;]+$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


# -- input checks ------------------------------------------------------------------------


def clean_email(raw: str, field: str = "email") -> str:
    email = raw.strip().lower()
    if not email:
        raise UserError("Enter an email address.", field)
    if len(email) > 254 or not _EMAIL.match(email):
        raise UserError("Enter a valid email address, like name@example.com.", field)
    return email


def clean_name(raw: str, field: str = "name", what: str = "a name") -> str:
    name = " ".join(raw.split())
    if not name:
        raise UserError(f"Enter {what}.", field)
    if len(name) > 100:
        raise UserError("Use at most 100 characters.", field)
    if _CONTROL.search(name):
        raise UserError("Remove the control characters.", field)
    return name


def clean_role(raw: str, field: str = "role") -> Role:
    try:
        return Role(raw)
    except ValueError:
        raise UserError("Choose owner, admin or agent.", field) from None


# -- users and workspaces ----------------------------------------------------------------


def has_users(db: Database) -> bool:
    with db.read() as s:
        return s.scalar(select(func.count()).select_from(User)) != 0


def _new_user(s: Session, passwords: Passwords, email: str, name: str, password: str) -> User:
    if s.scalar(select(User.id).where(User.email == email)) is not None:
        raise Conflict("An account with this email already exists.", "email")
    now = clock.now()
    user = User(
        email=email,
        name=name,
        password_hash=passwords.hash(password),
        is_instance_admin=False,
        created_at=now,
        password_changed_at=now,
    )
    s.add(user)
    s.flush()
    return user


def _slugify(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:32].strip("-")
    return slug if len(slug) >= 2 else "workspace"


def _new_workspace(s: Session, name: str, owner: User) -> Workspace:
    base = _slugify(name)
    slug, n = base, 1
    while s.scalar(select(Workspace.id).where(Workspace.slug == slug)) is not None:
        n += 1
        slug = f"{base}-{n}"
    now = clock.now()
    workspace = Workspace(
        slug=slug, public_id="wk_" + secrets.token_hex(10), name=name, created_at=now
    )
    s.add(workspace)
    s.flush()
    s.add(Membership(workspace_id=workspace.id, user_id=owner.id, role=Role.OWNER, created_at=now))
    owner.last_workspace_id = workspace.id
    return workspace


def create_owner(
    db: Database,
    passwords: Passwords,
    *,
    email: str,
    name: str,
    password: str,
    workspace_name: str,
    instance_admin: bool = True,
) -> tuple[User, Workspace]:
    """Create a user who owns a new workspace (first-run setup and ``create-admin``)."""
    email = clean_email(email)
    name = clean_name(name)
    workspace_name = clean_name(workspace_name, "workspace", "a workspace name")
    check_new_password(password)
    with db.write() as s:
        user = _new_user(s, passwords, email, name, password)
        user.is_instance_admin = instance_admin
        workspace = _new_workspace(s, workspace_name, user)
    return user, workspace


def create_workspace(db: Database, user_id: int, name: str) -> Workspace:
    name = clean_name(name, "name", "a workspace name")
    with db.write() as s:
        user = s.get(User, user_id)
        if user is None:
            raise NotFound("No such user.")
        return _new_workspace(s, name, user)


def authenticate(db: Database, passwords: Passwords, email: str, password: str) -> User | None:
    """The user with this email and password, or None. Rehashes outdated hashes."""
    with db.read() as s:
        user = s.scalar(select(User).where(User.email == email.strip().lower()))
    if not passwords.verify(user.password_hash if user else None, password) or user is None:
        return None
    if passwords.needs_rehash(user.password_hash):
        with db.write() as s:
            s.execute(
                update(User)
                .where(User.id == user.id)
                .values(password_hash=passwords.hash(password))
            )
    return user


def update_profile(db: Database, user_id: int, name: str) -> None:
    name = clean_name(name)
    with db.write() as s:
        s.execute(update(User).where(User.id == user_id).values(name=name))


def change_password(
    db: Database,
    passwords: Passwords,
    user_id: int,
    current: str,
    new: str,
    keep_session_id: int | None,
) -> None:
    """Change a password and end every other session of that user."""
    with db.read() as s:
        user = s.get(User, user_id)
    if user is None or not passwords.verify(user.password_hash, current):
        raise UserError("The current password is not correct.", "current_password")
    check_new_password(new, "new_password")
    _set_password(db, passwords, user_id, new, keep_session_id)


def _set_password(
    db: Database, passwords: Passwords, user_id: int, new: str, keep_session_id: int | None
) -> None:
    new_hash = passwords.hash(new)
    with db.write() as s:
        s.execute(
            update(User)
            .where(User.id == user_id)
            .values(password_hash=new_hash, password_changed_at=clock.now())
        )
        query = delete(LoginSession).where(LoginSession.user_id == user_id)
        if keep_session_id is not None:
            query = query.where(LoginSession.id != keep_session_id)
        s.execute(query)


def set_password_by_email(db: Database, passwords: Passwords, email: str, new: str) -> None:
    """Operator reset from the CLI: sets the password and ends every session."""
    check_new_password(new)
    with db.read() as s:
        user_id = s.scalar(select(User.id).where(User.email == email.strip().lower()))
    if user_id is None:
        raise NotFound(f"No account with the email {email.strip().lower()}.", "email")
    _set_password(db, passwords, user_id, new, None)


# -- sessions ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SessionPolicy:
    idle: dt.timedelta
    absolute: dt.timedelta


def start_session(
    db: Database, keys: Keys, policy: SessionPolicy, user_id: int, ip: str, user_agent: str
) -> str:
    token = secrets.token_urlsafe(32)
    now = clock.now()
    with db.write() as s:
        s.add(
            LoginSession(
                token_hash=keyed_hash(keys.signing, token),
                user_id=user_id,
                created_at=now,
                last_seen_at=now,
                expires_at=now + policy.absolute,
                ip=ip[:45],
                user_agent=user_agent[:200],
            )
        )
    return token


def find_session(
    db: Database, keys: Keys, policy: SessionPolicy, token: str
) -> tuple[LoginSession, User] | None:
    """The live session for a cookie value, touching its last-seen time (once a minute)."""
    now = clock.now()
    with db.read() as s:
        row = s.execute(
            select(LoginSession, User)
            .join(User, User.id == LoginSession.user_id)
            .where(LoginSession.token_hash == keyed_hash(keys.signing, token))
        ).first()
    if row is None:
        return None
    session, user = row
    if session.expires_at <= now or session.last_seen_at + policy.idle <= now:
        end_session(db, session.id)
        return None
    if now - session.last_seen_at > dt.timedelta(minutes=1):
        with db.write() as s:
            s.execute(
                update(LoginSession).where(LoginSession.id == session.id).values(last_seen_at=now)
            )
    return session, user


def session_active(db: Database, session_id: int, policy: SessionPolicy) -> bool:
    """Whether a session still exists and has neither expired nor idled out (read only)."""
    now = clock.now()
    with db.read() as s:
        session = s.get(LoginSession, session_id)
    return (
        session is not None
        and session.expires_at > now
        and session.last_seen_at + policy.idle > now
    )


def end_session(db: Database, session_id: int) -> None:
    with db.write() as s:
        s.execute(delete(LoginSession).where(LoginSession.id == session_id))


def end_all_sessions(db: Database, user_id: int) -> int:
    with db.write() as s:
        result = s.execute(delete(LoginSession).where(LoginSession.user_id == user_id))
        return int(getattr(result, "rowcount", 0) or 0)


def list_sessions(db: Database, user_id: int) -> Sequence[LoginSession]:
    with db.read() as s:
        return s.scalars(
            select(LoginSession)
            .where(LoginSession.user_id == user_id)
            .order_by(LoginSession.last_seen_at.desc())
        ).all()


def purge_expired(db: Database, policy: SessionPolicy) -> None:
    """Scheduled: drop ended sessions and spent or expired link tokens."""
    now = clock.now()
    with db.write() as s:
        s.execute(
            delete(LoginSession).where(
                (LoginSession.expires_at <= now) | (LoginSession.last_seen_at <= now - policy.idle)
            )
        )
        s.execute(
            delete(OneTimeToken).where(
                OneTimeToken.expires_at <= now - dt.timedelta(days=1),
                OneTimeToken.id.not_in(select(Invitation.token_id)),
            )
        )
        s.execute(
            delete(Invitation).where(
                Invitation.expires_at <= now - dt.timedelta(days=30),
                Invitation.accepted_at.is_(None),
            )
        )


# -- membership --------------------------------------------------------------------------


@dataclass(frozen=True)
class Member:
    user_id: int
    name: str
    email: str
    role: str
    joined_at: dt.datetime


def workspaces_of(db: Database, user_id: int) -> list[tuple[Workspace, str]]:
    with db.read() as s:
        rows = s.execute(
            select(Workspace, Membership.role)
            .join(Membership, Membership.workspace_id == Workspace.id)
            .where(Membership.user_id == user_id)
            .order_by(Workspace.name)
        ).all()
    return [(w, role) for w, role in rows]


def membership(db: Database, user_id: int, slug: str) -> tuple[Workspace, str] | None:
    """The workspace with this slug and the user's role there, or None if not a member."""
    with db.read() as s:
        row = s.execute(
            select(Workspace, Membership.role)
            .join(Membership, Membership.workspace_id == Workspace.id)
            .where(Workspace.slug == slug, Membership.user_id == user_id)
        ).first()
    return (row[0], row[1]) if row else None


def remember_workspace(db: Database, user_id: int, workspace_id: int) -> None:
    with db.write() as s:
        s.execute(update(User).where(User.id == user_id).values(last_workspace_id=workspace_id))


def list_members(db: Database, workspace_id: int) -> list[Member]:
    with db.read() as s:
        rows = s.execute(
            select(User.id, User.name, User.email, Membership.role, Membership.created_at)
            .join(Membership, Membership.user_id == User.id)
            .where(Membership.workspace_id == workspace_id)
            .order_by(User.name)
        ).all()
    return [Member(*row) for row in rows]


def _owner_count(s: Session, workspace_id: int) -> int:
    return (
        s.scalar(
            select(func.count())
            .select_from(Membership)
            .where(Membership.workspace_id == workspace_id, Membership.role == Role.OWNER)
        )
        or 0
    )


def _membership_row(s: Session, workspace_id: int, user_id: int) -> Membership:
    row = s.scalar(
        select(Membership).where(
            Membership.workspace_id == workspace_id, Membership.user_id == user_id
        )
    )
    if row is None:
        raise NotFound("No such member in this workspace.")
    return row


def change_role(
    db: Database, workspace_id: int, actor_role: str, user_id: int, new_role: str
) -> None:
    role = clean_role(new_role)
    with db.write() as s:
        row = _membership_row(s, workspace_id, user_id)
        if not (can_manage_role(actor_role, row.role) and can_manage_role(actor_role, role)):
            raise Forbidden("Only an owner can make or change owners.")
        if row.role == Role.OWNER and role != Role.OWNER and _owner_count(s, workspace_id) == 1:
            raise Conflict("A workspace needs at least one owner. Make someone else owner first.")
        row.role = role


def remove_member(db: Database, workspace_id: int, actor_role: str, user_id: int) -> None:
    with db.write() as s:
        row = _membership_row(s, workspace_id, user_id)
        if not can_manage_role(actor_role, row.role):
            raise Forbidden("Only an owner can remove an owner.")
        if row.role == Role.OWNER and _owner_count(s, workspace_id) == 1:
            raise Conflict("A workspace needs at least one owner. Make someone else owner first.")
        s.delete(row)


def delete_workspace(db: Database, workspace_id: int, confirm_slug: str) -> None:
    with db.write() as s:
        workspace = s.get(Workspace, workspace_id)
        if workspace is None:
            raise NotFound("No such workspace.")
        if confirm_slug.strip() != workspace.slug:
            raise UserError(f"Type {workspace.slug} to confirm.", "confirm")
        s.delete(workspace)


def rename_workspace(db: Database, workspace_id: int, name: str) -> None:
    name = clean_name(name, "name", "a workspace name")
    with db.write() as s:
        s.execute(update(Workspace).where(Workspace.id == workspace_id).values(name=name))


# -- invitations -------------------------------------------------------------------------


def list_invitations(db: Database, workspace_id: int) -> Sequence[Invitation]:
    with db.read() as s:
        return s.scalars(
            select(Invitation)
            .where(
                Invitation.workspace_id == workspace_id,
                Invitation.accepted_at.is_(None),
                Invitation.revoked_at.is_(None),
            )
            .order_by(Invitation.created_at.desc())
        ).all()


def invite(
    db: Database,
    keys: Keys,
    workspace_id: int,
    inviter_id: int | None,
    inviter_role: str,
    email: str,
    role: str,
) -> tuple[Invitation, str]:
    """Create (or replace) an invitation; returns it and the secret token for the link."""
    email = clean_email(email)
    new_role = clean_role(role)
    if not can_manage_role(inviter_role, new_role):
        raise Forbidden("Only an owner can invite owners.", "role")
    with db.write() as s:
        already = s.scalar(
            select(User.id)
            .join(Membership, Membership.user_id == User.id)
            .where(User.email == email, Membership.workspace_id == workspace_id)
        )
        if already is not None:
            raise Conflict("This person is already a member of the workspace.", "email")
        now = clock.now()
        s.execute(
            update(Invitation)
            .where(
                Invitation.workspace_id == workspace_id,
                Invitation.email == email,
                Invitation.accepted_at.is_(None),
                Invitation.revoked_at.is_(None),
            )
            .values(revoked_at=now)
        )
        token_row, token = tokens.issue(s, keys.signing, "invite", INVITATION_LIFETIME)
        invitation = Invitation(
            workspace_id=workspace_id,
            email=email,
            role=new_role,
            token_id=token_row.id,
            invited_by_id=inviter_id,
            created_at=now,
            expires_at=token_row.expires_at,
        )
        s.add(invitation)
        s.flush()
    return invitation, token


def revoke_invitation(db: Database, workspace_id: int, invitation_id: int) -> None:
    with db.write() as s:
        row = s.scalar(
            select(Invitation).where(
                Invitation.id == invitation_id, Invitation.workspace_id == workspace_id
            )
        )
        if row is None or row.accepted_at is not None or row.revoked_at is not None:
            raise NotFound("No such pending invitation.")
        row.revoked_at = clock.now()


@dataclass(frozen=True)
class PendingInvitation:
    invitation: Invitation
    workspace: Workspace
    inviter_name: str
    account_exists: bool


def find_invitation(db: Database, keys: Keys, token: str) -> PendingInvitation:
    with db.read() as s:
        token_row = tokens.check(s, keys.signing, "invite", token)
        row = s.execute(
            select(Invitation, Workspace)
            .join(Workspace, Workspace.id == Invitation.workspace_id)
            .where(Invitation.token_id == token_row.id)
        ).first()
        if row is None or row[0].revoked_at is not None:
            raise tokens.InvalidToken("This invitation was withdrawn.")
        invitation, workspace = row
        inviter = s.get(User, invitation.invited_by_id) if invitation.invited_by_id else None
        exists = s.scalar(select(User.id).where(User.email == invitation.email)) is not None
    return PendingInvitation(invitation, workspace, inviter.name if inviter else "", exists)


def accept_invitation(
    db: Database,
    keys: Keys,
    passwords: Passwords,
    token: str,
    *,
    user_id: int | None = None,
    name: str = "",
    password: str = "",
) -> tuple[User, Workspace]:
    """Join the workspace as the signed-in user, or create the account named in the invite."""
    if user_id is None:
        name = clean_name(name)
        check_new_password(password)
        password_hash = passwords.hash(password)
    with db.write() as s:
        token_row = tokens.check(s, keys.signing, "invite", token)
        invitation = s.scalar(select(Invitation).where(Invitation.token_id == token_row.id))
        if invitation is None or invitation.revoked_at is not None:
            raise tokens.InvalidToken("This invitation was withdrawn.")
        if user_id is None:
            if s.scalar(select(User.id).where(User.email == invitation.email)) is not None:
                raise Conflict("An account with this email exists. Log in to accept.")
            now = clock.now()
            user = User(
                email=invitation.email,
                name=name,
                password_hash=password_hash,
                is_instance_admin=False,
                created_at=now,
                password_changed_at=now,
            )
            s.add(user)
            s.flush()
        else:
            found = s.get(User, user_id)
            if found is None:
                raise NotFound("No such user.")
            user = found
            if user.email != invitation.email:
                raise Forbidden(
                    f"This invitation is for {invitation.email}. Log out and open the link again."
                )
        if (
            s.scalar(
                select(Membership.id).where(
                    Membership.workspace_id == invitation.workspace_id,
                    Membership.user_id == user.id,
                )
            )
            is None
        ):
            s.add(
                Membership(
                    workspace_id=invitation.workspace_id,
                    user_id=user.id,
                    role=invitation.role,
                    created_at=clock.now(),
                )
            )
        tokens.consume(token_row)
        invitation.accepted_at = clock.now()
        user.last_workspace_id = invitation.workspace_id
        workspace = s.get_one(Workspace, invitation.workspace_id)
    return user, workspace


# -- password reset ----------------------------------------------------------------------


def request_password_reset(db: Database, keys: Keys, email: str) -> tuple[User, str] | None:
    """A reset token for the account with this email, or None (the caller says the same)."""
    with db.write() as s:
        user = s.scalar(select(User).where(User.email == email.strip().lower()))
        if user is None:
            return None
        _, token = tokens.issue(s, keys.signing, "reset", RESET_LIFETIME, user_id=user.id)
    return user, token


def check_reset_token(db: Database, keys: Keys, token: str) -> User:
    with db.read() as s:
        row = tokens.check(s, keys.signing, "reset", token)
        user = s.get(User, row.user_id) if row.user_id else None
    if user is None:
        raise tokens.InvalidToken("This link is no longer valid.")
    return user


def reset_password(
    db: Database, keys: Keys, passwords: Passwords, token: str, new_password: str
) -> User:
    check_new_password(new_password)
    new_hash = passwords.hash(new_password)
    with db.write() as s:
        row = tokens.check(s, keys.signing, "reset", token)
        user = s.get(User, row.user_id) if row.user_id else None
        if user is None:
            raise tokens.InvalidToken("This link is no longer valid.")
        tokens.consume(row)
        user.password_hash = new_hash
        user.password_changed_at = clock.now()
        s.execute(delete(LoginSession).where(LoginSession.user_id == user.id))
    return user


# -- API keys ----------------------------------------------------------------------------

API_KEY_PREFIX = "cm_"


def create_api_key(
    db: Database, keys: Keys, workspace_id: int, name: str, created_by_id: int | None
) -> tuple[ApiKey, str]:
    name = clean_name(name, "name", "a name for the key")
    secret = API_KEY_PREFIX + secrets.token_urlsafe(30)
    with db.write() as s:
        row = ApiKey(
            workspace_id=workspace_id,
            name=name,
            prefix=secret[:10],
            key_hash=keyed_hash(keys.signing, secret),
            created_by_id=created_by_id,
            created_at=clock.now(),
        )
        s.add(row)
        s.flush()
    return row, secret


def workspace_by_slug(db: Database, slug: str) -> Workspace:
    """For the command line, which acts as the instance's operator, not as a member."""
    with db.read() as s:
        workspace = s.scalar(select(Workspace).where(Workspace.slug == slug))
    if workspace is None:
        raise NotFound(f"No workspace with the slug {slug}.", "workspace")
    return workspace


def create_api_key_by_slug(db: Database, keys: Keys, slug: str, name: str) -> tuple[ApiKey, str]:
    return create_api_key(db, keys, workspace_by_slug(db, slug).id, name, None)


def list_api_keys(db: Database, workspace_id: int) -> Sequence[ApiKey]:
    with db.read() as s:
        return s.scalars(
            select(ApiKey)
            .where(ApiKey.workspace_id == workspace_id, ApiKey.revoked_at.is_(None))
            .order_by(ApiKey.created_at.desc())
        ).all()


def revoke_api_key(db: Database, workspace_id: int, key_id: int) -> ApiKey:
    with db.write() as s:
        row = s.scalar(
            select(ApiKey).where(ApiKey.id == key_id, ApiKey.workspace_id == workspace_id)
        )
        if row is None or row.revoked_at is not None:
            raise NotFound("No such API key.")
        row.revoked_at = clock.now()
        return row


def workspace_for_api_key(db: Database, keys: Keys, secret: str) -> Workspace | None:
    if not secret.startswith(API_KEY_PREFIX):
        return None
    now = clock.now()
    with db.read() as s:
        row = s.execute(
            select(ApiKey, Workspace)
            .join(Workspace, Workspace.id == ApiKey.workspace_id)
            .where(ApiKey.key_hash == keyed_hash(keys.signing, secret), ApiKey.revoked_at.is_(None))
        ).first()
    if row is None:
        return None
    key, workspace = row
    if key.last_used_at is None or now - key.last_used_at > dt.timedelta(minutes=1):
        with db.write() as s:
            s.execute(update(ApiKey).where(ApiKey.id == key.id).values(last_used_at=now))
    return workspace
