"""The in-process schedule. Jobs are defined here in code; durable work lives in tables."""

from __future__ import annotations

import datetime as dt
import logging

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from chatmina.accounts import service as accounts
from chatmina.functions.jobs import purge_call_log
from chatmina.storage.backup import daily_backup_job
from chatmina.ui.context import Services
from chatmina.webhooks.jobs import DeliveryWorker

log = logging.getLogger(__name__)

FIRST_BACKUP_DELAY = dt.timedelta(minutes=5)


def create_scheduler(services: Services, deliveries: DeliveryWorker) -> AsyncIOScheduler:
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
    # Hourly, so a server that was down at midnight still makes the day's backup; the first
    # check waits a few minutes to keep start-up light.
    scheduler.add_job(
        daily_backup_job,
        "interval",
        hours=1,
        args=[services.settings.data_path, services.keys, services.settings.backup_keep],
        id="daily-backup",
        next_run_time=dt.datetime.now(dt.UTC) + FIRST_BACKUP_DELAY,
        coalesce=True,
        max_instances=1,
    )
    scheduler.add_job(
        purge_call_log,
        "interval",
        hours=6,
        args=[services.db],
        id="purge-function-call-log",
        coalesce=True,
        max_instances=1,
    )
    # Event webhooks: due deliveries every second (a round repeats while a backlog lasts).
    scheduler.add_job(
        deliveries.scheduled,
        "interval",
        seconds=1,
        id="webhook-deliveries",
        coalesce=True,
        max_instances=1,
    )
    return scheduler
