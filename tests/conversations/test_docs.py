"""docs/conversations.md: its identity-hash example computes what Chatmina checks."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from chatmina.conversations import visitors

DOC = Path(__file__).resolve().parents[2] / "docs" / "conversations.md"


def test_the_documented_hash_function_matches_the_servers_check() -> None:
    [code] = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    scope: dict[str, Any] = {}
    exec(code, scope)  # our own documentation's example
    secret = "whs_example-secret"
    for user_id in ("42", "user-é", ""):
        expected = visitors.identity_hash(secret, user_id)
        assert scope["chatmina_user_hash"](secret, user_id) == expected


def test_the_documented_settings_exist() -> None:
    from chatmina.settings import SETTINGS

    named = set(re.findall(r"CHATMINA_[A-Z_]+", DOC.read_text()))
    assert named <= {s.env for s in SETTINGS}
