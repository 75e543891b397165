"""The interface between the tool-calling loop and whatever runs AI Functions.

The answer engine only knows :class:`Dispatcher`: which tools a workspace offers, and how
to call one with arguments that already passed their JSON Schema. The functions feature
plugs in the real dispatcher (signed webhooks); until then :class:`NoFunctions` offers none.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    parameters: dict[str, Any]  # a JSON Schema for the arguments object

    def as_openai(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }


@dataclass(frozen=True)
class CallContext:
    workspace_id: int
    conversation_id: int
    call_id: str  # the model's id for this call
    verified: bool  # the visitor's identity was verified by the business's backend


@dataclass(frozen=True)
class ToolOutcome:
    ok: bool
    content: str  # what goes back to the model (JSON text or a plain error)
    summary: str = ""  # one line for the transcript and the visitor


class Dispatcher(Protocol):
    async def tools(self, workspace_id: int, *, verified: bool) -> list[Tool]: ...

    async def call(
        self, tool: Tool, arguments: dict[str, Any], context: CallContext
    ) -> ToolOutcome: ...


class NoFunctions:
    """A workspace without AI Functions."""

    async def tools(self, workspace_id: int, *, verified: bool) -> list[Tool]:
        return []

    async def call(
        self, tool: Tool, arguments: dict[str, Any], context: CallContext
    ) -> ToolOutcome:
        return ToolOutcome(False, f"No function named {tool.name} exists.", "unknown function")


class ArgumentsInvalid(ValueError):
    """The model's arguments are not JSON or do not match the function's schema."""


@lru_cache(maxsize=512)
def _validator(schema_json: str) -> Any:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(json.loads(schema_json))


def parse_arguments(tool: Tool, raw: str) -> dict[str, Any]:
    """The arguments as a dict, or ArgumentsInvalid with a message the model can act on."""
    try:
        arguments = json.loads(raw) if raw.strip() else {}
    except ValueError:
        raise ArgumentsInvalid("the arguments are not valid JSON") from None
    if not isinstance(arguments, dict):
        raise ArgumentsInvalid("the arguments must be a JSON object")
    validator = _validator(json.dumps(tool.parameters, sort_keys=True))
    errors = sorted(validator.iter_errors(arguments), key=lambda e: list(e.absolute_path))
    if errors:
        problems = []
        for error in errors[:5]:
            where = "/".join(str(p) for p in error.absolute_path)
            problems.append(f"{where}: {error.message}" if where else error.message)
        raise ArgumentsInvalid("the arguments do not match the schema: " + "; ".join(problems))
    return arguments
