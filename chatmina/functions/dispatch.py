"""Calling AI Functions during an answer: the real :class:`Dispatcher`.

A call is one signed HTTP request (Standard Webhooks headers) to the function's URL,
through the checked outbound client, within the function's timeout. Whatever happens,
the model gets a sentence it can explain to the visitor, and the call log gets a row.

Speed: the tool loop waits on this, so nothing touches the database before the request
is on the wire. Each workspace's functions (secrets decrypted, tools built) and its
private-host allowlist stay in memory until a function changes (functions/cache.py) or
the entry is a minute old; the call is logged after the response.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
import weakref
from dataclasses import dataclass, field
from typing import Any

import anyio.to_thread

from chatmina import clock
from chatmina.assistant.tools import CallContext, Tool, ToolOutcome
from chatmina.functions import cache, calls
from chatmina.functions.request import build_request, connection_failed, judge
from chatmina.functions.service import FunctionSpec, load_specs
from chatmina.settings import Settings
from chatmina.storage.db import Database
from chatmina.storage.keys import Keys

log = logging.getLogger("chatmina.functions")

MAX_RESPONSE_BYTES = 64 * 1024
ENTRY_MAX_AGE = 60.0  # seconds; picks up allowlist changes made elsewhere


@dataclass
class _Entry:
    generation: tuple[int, int]  # (functions changed, allowlist changed) counts
    loaded: float
    specs: dict[str, FunctionSpec]
    allowed: frozenset[str]
    tools: dict[str, Tool] = field(default_factory=dict)


@dataclass(frozen=True)
class Sent:
    """One call as it went: the outcome for the model plus what the log and UI show."""

    outcome: ToolOutcome
    status: int | None
    latency_ms: float
    response: str
    error: str
    attempts: int


def _tool(spec: FunctionSpec) -> Tool:
    return Tool(spec.name, spec.description, spec.parameters)


class FunctionDispatcher:
    """The workspace's enabled functions as tools, called as signed webhooks."""

    def __init__(self, db: Database, keys: Keys, settings: Settings) -> None:
        self.db = db
        self.keys = keys
        self.settings = settings
        self._entries: dict[int, _Entry] = {}
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any]
        self._clients = weakref.WeakKeyDictionary()
        self._database = str(db.path)

    # -- the workspace's functions, from memory --------------------------------------------

    # The webhooks client is imported where it is used: it brings httpcore and httpx, which
    # start-up does without (tests/ops/test_startup_imports.py).
    def _generation(self, workspace_id: int) -> tuple[int, int]:
        from chatmina.webhooks.client import allowlist_generation

        return (
            cache.generation(self._database, workspace_id),
            allowlist_generation(self.db, workspace_id),
        )

    def _load(self, workspace_id: int, generation: tuple[int, int]) -> _Entry:
        from chatmina.webhooks.client import allowed_private_hosts

        specs = load_specs(self.db, self.keys, workspace_id)
        allowed = allowed_private_hosts(self.db, workspace_id, self.settings)
        entry = _Entry(generation, time.monotonic(), specs, allowed)
        entry.tools = {name: _tool(spec) for name, spec in sorted(specs.items())}
        return entry

    async def _entry(self, workspace_id: int) -> _Entry:
        generation = self._generation(workspace_id)
        entry = self._entries.get(workspace_id)
        fresh = entry is not None and time.monotonic() - entry.loaded < ENTRY_MAX_AGE
        if entry is None or entry.generation != generation or not fresh:
            entry = await anyio.to_thread.run_sync(self._load, workspace_id, generation)
            self._entries[workspace_id] = entry
        return entry

    def _client(self) -> Any:
        from chatmina.webhooks.client import OutboundClient

        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            client = self._clients[loop] = OutboundClient()
        return client

    async def aclose(self) -> None:
        """Close the current event loop's connections (the app's lifespan calls this)."""
        client = self._clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.aclose()

    # -- the Dispatcher protocol -----------------------------------------------------------

    async def tools(self, workspace_id: int, *, verified: bool) -> list[Tool]:
        entry = await self._entry(workspace_id)
        return [
            entry.tools[name]
            for name, spec in entry.specs.items()
            if spec.enabled and (verified or not spec.only_verified)
        ]

    async def call(
        self, tool: Tool, arguments: dict[str, Any], context: CallContext
    ) -> ToolOutcome:
        entry = await self._entry(context.workspace_id)
        spec = entry.specs.get(tool.name)
        if spec is None or not spec.enabled:
            return ToolOutcome(
                False, f"Error: the function {tool.name} is not available.", "not available"
            )
        if spec.only_verified and not context.verified:
            return ToolOutcome(
                False,
                f"Error: {tool.name} is only for visitors whose identity was verified. Nothing "
                "was run; the visitor can sign in on the website first.",
                "only for verified visitors",
            )
        sent = await self.send(
            spec,
            entry.allowed,
            arguments,
            call_id=context.call_id,
            conversation_id=context.conversation_id,
            verified=context.verified,
        )
        return sent.outcome

    async def rejected(self, tool: Tool, raw: str, reason: str, context: CallContext) -> None:
        """Log a call the tool loop refused before sending (arguments off the schema), as
        attempt 0, so the call log shows what the model tried and why nothing went out."""
        from chatmina.webhooks.signing import new_message_id

        entry = await self._entry(context.workspace_id)
        spec = entry.specs.get(tool.name)
        if spec is None:
            return
        try:
            arguments: Any = json.loads(raw) if raw.strip() else {}
        except ValueError:
            arguments = raw  # kept as the text the model sent
        record = calls.CallRecord(
            workspace_id=spec.workspace_id,
            function_id=spec.id,
            conversation_id=context.conversation_id,
            message_id=new_message_id(),
            call_id=context.call_id,
            attempt=0,
            is_test=False,
            ok=False,
            status_code=None,
            latency_ms=0.0,
            error=f"not sent: {reason}",
            arguments=arguments,
            response="",
            created_at=clock.now(),
        )
        await self._log([record], spec)

    async def _log(self, records: list[calls.CallRecord], spec: FunctionSpec) -> None:
        try:
            await anyio.to_thread.run_sync(calls.record, self.db, self.keys, records)
        except Exception:
            # The answer goes on: a visitor should not lose it to a full disk in the log.
            log.exception(
                "could not log a call of %s in workspace %s", spec.name, spec.workspace_id
            )

    # -- sending ---------------------------------------------------------------------------

    async def send(
        self,
        spec: FunctionSpec,
        allowed: frozenset[str],
        arguments: dict[str, Any],
        *,
        call_id: str,
        conversation_id: int | None,
        verified: bool,
        test: bool = False,
    ) -> Sent:
        url, headers, body, msg_id = build_request(
            spec,
            arguments,
            call_id=call_id,
            conversation_id=conversation_id,
            verified=verified,
            test=test,
        )
        client = self._client()
        records: list[calls.CallRecord] = []
        attempt = 0
        while True:
            attempt += 1
            started = clock.now()
            response = await client.send(
                url=url,
                method=spec.method,
                headers=headers,
                body=body,
                timeout=float(spec.timeout_seconds),
                allowed=allowed,
                max_response_bytes=MAX_RESPONSE_BYTES,
            )
            ok, content, summary = judge(spec, response.status, response.body, response.error)
            excerpt = response.body[: calls.EXCERPT_CHARS].decode("utf-8", errors="replace")
            error = "" if ok else (response.error or summary)
            records.append(
                calls.CallRecord(
                    workspace_id=spec.workspace_id,
                    function_id=spec.id,
                    conversation_id=conversation_id,
                    message_id=msg_id,
                    call_id=call_id,
                    attempt=attempt,
                    is_test=test,
                    ok=ok,
                    status_code=response.status,
                    latency_ms=response.latency_ms,
                    error=error,
                    arguments=arguments,
                    response=excerpt,
                    created_at=started,
                )
            )
            if attempt == 1 and connection_failed(response.error):
                continue  # once, at once, with the same webhook-id
            break
        await self._log(records, spec)
        return Sent(
            ToolOutcome(ok, content, summary),
            response.status,
            response.latency_ms,
            excerpt,
            error,
            attempt,
        )

    async def test(
        self, workspace_id: int, function_id: int, arguments: dict[str, Any]
    ) -> Sent | None:
        """A call from the admin's "Test" button, logged as a test; None: no such function."""
        entry = await self._entry(workspace_id)
        spec = next((s for s in entry.specs.values() if s.id == function_id), None)
        if spec is None:
            return None
        return await self.send(
            spec,
            entry.allowed,
            arguments,
            call_id="test_" + secrets.token_urlsafe(9),
            conversation_id=None,
            verified=True,
            test=True,
        )
