"""The in-process schedule. Jobs are defined here in code; durable work lives in tables."""

from __future__ import annotations

import logging

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from chatmina.accounts import service as accounts
from chatmina.ui.context import Services

log = logging.getLogger(__name__)


def create_scheduler(services: Services) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(timezone="UTC")
    scheduler.add_job(
        accounts.purge_expired,
        "interval",
        minutes=15,
        args=[services.db, services.session_policy],
        id="purge-expired-sessions",
        coalesce=True,
        max_instances=1,
    )
    return scheduler
