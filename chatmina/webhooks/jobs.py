"""The delivery worker, run by the scheduler's one-second tick.

Each round claims a batch of due deliveries (one short write transaction), sends them
concurrently, and records every result in one more write transaction. Rounds repeat while
a full batch was due, so a backlog drains at the speed of the receivers, not of the tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import anyio

from chatmina import clock
from chatmina.accounts import service as accounts
from chatmina.accounts.models import Workspace
from chatmina.mail.service import Mailer
from chatmina.settings import Settings
from chatmina.storage.crypto import DecryptionError
from chatmina.storage.db import Database
from chatmina.storage.keys import Keys
from chatmina.webhooks import queue, signing
from chatmina.webhooks.service import signing_secrets

if TYPE_CHECKING:  # the client brings httpcore and chatmina.net (httpx): not at start-up
    from chatmina.webhooks.client import OutboundClient

log = logging.getLogger(__name__)

BATCH = 100  # also the number sent at once: a lease covers one timeout, not several
LANES = 2
LEASE_MARGIN = dt.timedelta(seconds=5)
ROUNDS_BUDGET_SECONDS = 30.0


class DeliveryWorker:
    def __init__(
        self,
        db: Database,
        keys: Keys,
        settings: Settings,
        mailer: Mailer,
        client: OutboundClient | None = None,
        batch: int = BATCH,
    ) -> None:
        self.db = db
        self.keys = keys
        self.settings = settings
        self.mailer = mailer
        self.batch = batch
        self._client = client
        self.timeout = float(settings.webhook_timeout_seconds)
        self.lease = dt.timedelta(seconds=self.timeout) + LEASE_MARGIN
        self._running: asyncio.Task[int] | None = None

    @property
    def client(self) -> OutboundClient:
        if self._client is None:  # made on the event loop that uses it
            from chatmina.webhooks.client import OutboundClient

            self._client = OutboundClient(max_connections=self.batch * LANES)
        return self._client

    async def aclose(self) -> None:
        """Stop a tick in flight (its deliveries stay leased and are retried after the lease
        runs out, with the same webhook-id) and close the connections."""
        running, self._running = self._running, None
        if running is not None and not running.done():
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def scheduled(self) -> None:
        """The scheduler's one-second job: starts a tick unless one is still running.

        A tick can outlast the second (a backlog, slow receivers); returning at once keeps
        APScheduler from logging every skipped second as a missed run."""
        if self._running is not None and not self._running.done():
            return
        self._running = asyncio.create_task(self.tick())
        self._running.add_done_callback(_log_failure)

    async def tick(self) -> int:
        """Send what is due; returns how many attempts were made.

        Two lanes take turns: while one waits on the database (claim, record), the other's
        requests are on the wire. Leases keep them from taking the same delivery."""
        began = time.monotonic()
        counts = await asyncio.gather(*(self._lane(began) for _ in range(LANES)))
        return sum(counts)

    async def _lane(self, began: float) -> int:
        sent = 0
        while True:
            claimed = await anyio.to_thread.run_sync(self._claim)
            if not claimed:
                return sent
            results = await self._send_all(claimed)
            disabled = await anyio.to_thread.run_sync(self._record, results)
            for endpoint in disabled:
                await anyio.to_thread.run_sync(self._notify, endpoint)
            sent += len(claimed)
            if len(claimed) < self.batch or time.monotonic() - began > ROUNDS_BUDGET_SECONDS:
                return sent

    def _claim(self) -> list[queue.Claimed]:
        with self.db.write() as session:
            return queue.claim_due(session, clock.now(), self.batch, self.lease)

    def _record(self, results: Sequence[queue.Result]) -> list[queue.Disabled]:
        with self.db.write() as session:
            return queue.record_results(session, results, clock.now())

    async def _send_all(self, claimed: list[queue.Claimed]) -> list[queue.Result]:
        from chatmina.webhooks.client import allowed_private_hosts

        allowed: dict[int, frozenset[str]] = {}
        for workspace_id in {c.workspace_id for c in claimed}:
            allowed[workspace_id] = await anyio.to_thread.run_sync(
                allowed_private_hosts, self.db, workspace_id, self.settings
            )
        secrets: dict[int, list[str] | None] = {}
        now = clock.now()
        for c in claimed:
            if c.endpoint.id not in secrets:
                try:
                    secrets[c.endpoint.id] = signing_secrets(self.keys, c.endpoint, now)
                except DecryptionError:
                    log.error("webhook endpoint %s: secret does not decrypt", c.endpoint.public_id)
                    secrets[c.endpoint.id] = None
        return list(
            await asyncio.gather(
                *(self._send(c, secrets[c.endpoint.id], allowed[c.workspace_id]) for c in claimed)
            )
        )

    async def _send(
        self, claimed: queue.Claimed, secrets: list[str] | None, allowed: frozenset[str]
    ) -> queue.Result:
        started = clock.now()
        if secrets is None:
            from chatmina.webhooks.client import Response

            failed = Response(None, 0.0, b"", False, "the endpoint's signing secret is unreadable")
            return queue.Result(claimed, started, failed)
        headers = signing.signature_headers(
            secrets, claimed.msg_id, int(started.timestamp()), claimed.payload
        )
        headers["content-type"] = "application/json"
        response = await self.client.send(
            url=claimed.endpoint.url,
            method="POST",
            headers=headers,
            body=claimed.payload,
            timeout=self.timeout,
            allowed=allowed,
        )
        return queue.Result(claimed, started, response)

    def _notify(self, disabled: queue.Disabled) -> None:
        owners = [
            m for m in accounts.list_members(self.db, disabled.workspace_id) if m.role == "owner"
        ]
        with self.db.read() as session:
            workspace = session.get(Workspace, disabled.workspace_id)
        assert workspace is not None  # its endpoint was just updated
        link = f"{self.settings.base_url}/w/{workspace.slug}/webhooks"
        self.mailer.send_to_each(
            [(owner.email, owner.name) for owner in owners],
            "webhook_disabled",
            {
                "workspace": workspace.name,
                "url": disabled.url,
                "failing_since": f"{disabled.failing_since:%Y-%m-%d %H:%M} UTC",
                "link": link,
            },
            "a disabled webhook",
        )


def _log_failure(task: asyncio.Task[int]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("webhook delivery tick failed", exc_info=task.exception())
