"""Roles and what each may do. docs/permissions.md shows this table; a test keeps them equal."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    AGENT = "agent"


class Permission(StrEnum):
    VIEW_WORKSPACE = "View the dashboard and member list"
    HANDLE_CONVERSATIONS = "Answer, assign and resolve conversations"
    MANAGE_KNOWLEDGE = "Add, edit and delete knowledge"
    MANAGE_FUNCTIONS = "Manage AI Functions and webhooks"
    MANAGE_SETTINGS = "Change workspace settings and API keys"
    MANAGE_MEMBERS = "Invite and remove admins and agents, change their roles"
    MANAGE_OWNERS = "Make, invite or remove owners"
    DELETE_WORKSPACE = "Delete the workspace"


_ADMIN = {
    Permission.VIEW_WORKSPACE,
    Permission.HANDLE_CONVERSATIONS,
    Permission.MANAGE_KNOWLEDGE,
    Permission.MANAGE_FUNCTIONS,
    Permission.MANAGE_SETTINGS,
    Permission.MANAGE_MEMBERS,
}

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.OWNER: frozenset(Permission),
    Role.ADMIN: frozenset(_ADMIN),
    Role.AGENT: frozenset({Permission.VIEW_WORKSPACE, Permission.HANDLE_CONVERSATIONS}),
}


def can(role: str, permission: Permission) -> bool:
    return permission in ROLE_PERMISSIONS.get(Role(role), frozenset())


def can_manage_role(actor_role: str, target_role: str) -> bool:
    """Whether someone with ``actor_role`` may grant, change or remove ``target_role``."""
    if target_role == Role.OWNER:
        return can(actor_role, Permission.MANAGE_OWNERS)
    return can(actor_role, Permission.MANAGE_MEMBERS)
