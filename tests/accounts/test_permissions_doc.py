"""docs/permissions.md shows ROLE_PERMISSIONS; this keeps the two equal."""

from __future__ import annotations

from pathlib import Path

from chatmina.accounts.roles import ROLE_PERMISSIONS, Permission, Role

DOCS = Path(__file__).resolve().parents[2] / "docs" / "permissions.md"


def table_rows(markdown: str) -> list[list[str]]:
    """The cells of every markdown table row, without the |---| separator line."""
    rows = []
    for line in markdown.splitlines():
        if line.startswith("|") and not set(line) <= set("|-: "):
            rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows


def test_the_permissions_table_matches_the_code() -> None:
    header, *body = table_rows(DOCS.read_text())
    assert header[0] == "Permission"
    roles = [Role(name.lower()) for name in header[1:]]
    assert sorted(roles) == sorted(Role)
    documented: dict[Role, set[Permission]] = {role: set() for role in roles}
    for text, *marks in body:
        assert len(marks) == len(roles), f"row {text!r} has {len(marks)} role columns"
        assert set(marks) <= {"✓", ""}, f"row {text!r}: use ✓ or leave the cell blank"
        for role, mark in zip(roles, marks, strict=True):
            if mark:
                documented[role].add(Permission(text))
    assert [text for text, *_ in body] == [p.value for p in Permission]
    assert {role: frozenset(perms) for role, perms in documented.items()} == ROLE_PERMISSIONS
