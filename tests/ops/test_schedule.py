"""Daily backups: one a day, the newest N kept, none older than 30 days."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from chatmina import clock
from chatmina.settings import Settings
from chatmina.storage.backup import (
    MAX_AGE,
    backup_dir,
    run_daily_backup,
    scheduled_backups,
    verify_backup,
)
from chatmina.ui.context import Services

DAY = dt.timedelta(days=1)


def test_the_first_check_of_a_day_takes_its_backup_and_later_checks_do_not(
    settings: Settings, services: Services
) -> None:
    made = run_daily_backup(settings.data_path, services.keys, keep=7)
    assert made is not None
    assert verify_backup(made, services.keys).counts["users"] == 0
    # Later the same day: nothing new.
    start = clock.now()
    clock.travel(dt.datetime.combine(start.date(), dt.time(23, 59), dt.UTC) - start)
    assert run_daily_backup(settings.data_path, services.keys, keep=7) is None
    # The next day: the day's backup.
    clock.travel(dt.timedelta(minutes=2))
    assert run_daily_backup(settings.data_path, services.keys, keep=7) is not None
    assert len(scheduled_backups(backup_dir(settings.data_path))) == 2


def test_it_keeps_the_newest_n_backups(settings: Settings, services: Services) -> None:
    days = []
    for _ in range(10):
        made = run_daily_backup(settings.data_path, services.keys, keep=3)
        assert made is not None
        days.append(made.name)
        clock.travel(DAY)
    kept = [p.name for _, p in scheduled_backups(backup_dir(settings.data_path))]
    assert kept == list(reversed(days[-3:]))


def test_none_is_older_than_30_days_whatever_the_count(
    settings: Settings, services: Services
) -> None:
    for _ in range(35):
        run_daily_backup(settings.data_path, services.keys, keep=30)
        clock.travel(DAY)
    run_daily_backup(settings.data_path, services.keys, keep=30)
    found = scheduled_backups(backup_dir(settings.data_path))
    assert len(found) == 30
    assert all(clock.now() - taken <= MAX_AGE for taken, _ in found)


def test_turning_backups_off_still_deletes_old_ones_and_leaves_other_files_alone(
    settings: Settings, services: Services
) -> None:
    run_daily_backup(settings.data_path, services.keys, keep=5)
    mine = backup_dir(settings.data_path) / "before-the-upgrade.db"
    mine.write_bytes(b"an admin's own copy")
    clock.travel(MAX_AGE + DAY)
    assert run_daily_backup(settings.data_path, services.keys, keep=0) is None
    assert scheduled_backups(backup_dir(settings.data_path)) == []
    assert mine.exists()


def test_a_scheduled_backup_is_owner_only(settings: Settings, services: Services) -> None:
    made = run_daily_backup(settings.data_path, services.keys, keep=1)
    assert made is not None
    assert oct(Path(made).stat().st_mode & 0o777) == "0o600"
    assert oct(made.parent.stat().st_mode & 0o777) == "0o700"


def test_the_server_checks_for_its_daily_backup_every_hour(services: Services) -> None:
    from chatmina.scheduler import create_scheduler
    from chatmina.webhooks.jobs import DeliveryWorker

    deliveries = DeliveryWorker(services.db, services.keys, services.settings, services.mailer)
    job = create_scheduler(services, deliveries).get_job("daily-backup")
    assert job is not None
    assert job.trigger.interval == dt.timedelta(hours=1)
    assert job.args[0] == services.settings.data_path
    assert job.args[2] == services.settings.backup_keep == 7


def test_what_a_crashed_backup_left_behind_is_cleaned_up(
    settings: Settings, services: Services
) -> None:
    directory = backup_dir(settings.data_path)
    directory.mkdir()
    leftover = directory / ".chatmina-20250101T000000Z.db.0a1b2c3d.tmp"
    leftover.write_bytes(b"half a backup")
    run_daily_backup(settings.data_path, services.keys, keep=7)
    assert leftover.exists()  # it might be a backup still being written
    clock.travel(dt.timedelta(hours=7))
    run_daily_backup(settings.data_path, services.keys, keep=7)
    assert not leftover.exists()
