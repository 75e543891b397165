"""The encrypted database: one SQLCipher file with sqlite-vec loaded on every connection.

SQLite has one writer. Reads use plain deferred transactions; anything that reads and then
writes uses :meth:`Database.write`, which starts with ``BEGIN IMMEDIATE`` so two writers
queue on the busy timeout instead of failing halfway with "database is locked".
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

import sqlcipher3.dbapi2 as sqlcipher
from sqlalchemy import DateTime, Engine, create_engine, event, pool
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from chatmina.events import EventBus
from chatmina.storage.keys import DB_FILE_NAME, KeyError_, Keys

BUSY_TIMEOUT_MS = 5000
CACHE_KIB = 16 * 1024  # per connection


class Base(DeclarativeBase):
    pass


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Stores naive UTC, always returns aware UTC: no local time anywhere."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use chatmina.clock.now()")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        return None if value is None else value.replace(tzinfo=dt.UTC)


def _key_pragma(keys: Keys) -> str:
    # A raw key (x'...') skips SQLCipher's per-connection PBKDF2: the master key is already
    # random, and 256,000 KDF rounds per connection would cost ~100 ms each.
    return f"PRAGMA key = \"x'{keys.database.hex()}'\""


@contextmanager
def _cipher_log_off() -> Iterator[None]:
    """Silence SQLCipher's own stderr log, a process-wide setting, for the duration.

    A wrong key makes SQLCipher print "hmac check failed for pgno=1" and more to stderr;
    the caller reports that failure itself, in one line that names the key source.
    """
    control = sqlcipher.connect(":memory:")
    try:
        level = control.execute("PRAGMA cipher_log_level").fetchone()[0]
        control.execute("PRAGMA cipher_log_level = NONE")
        try:
            yield
        finally:
            control.execute(f"PRAGMA cipher_log_level = {level}")
    finally:
        control.close()


def check_key(path: Path, keys: Keys) -> None:
    """Raise KeyError_ unless the key opens the database at ``path``, changing no file.

    An ordinary connection that fails is still the last one to close, so SQLite would
    checkpoint a crashed server's WAL into the database and delete -wal and -shm. With
    ``immutable=1`` SQLite reads page 1 of the main file and touches nothing else.
    """
    uri = path.resolve().as_uri() + "?immutable=1"
    for attempt in (1, 2):  # a second look, in case a checkpoint was rewriting page 1
        conn = sqlcipher.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        try:
            with _cipher_log_off():
                conn.execute(_key_pragma(keys))
                conn.execute("PRAGMA schema_version").fetchone()
            return
        except sqlcipher.DatabaseError:
            if attempt == 2:
                raise KeyError_(f"the master key from {keys.source} does not open {path}") from None
        finally:
            conn.close()


@cache
def _vec0_path() -> str:
    """sqlite-vec's loadable extension, found without importing its Python package, which
    imports numpy (~70 ms, ~15 MB at start-up) for helpers Chatmina does not use."""
    spec = importlib.util.find_spec("sqlite_vec")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the sqlite-vec package is not installed")
    return str(Path(next(iter(spec.submodule_search_locations))) / "vec0")


def load_vec0(conn: Any) -> None:
    """Load sqlite-vec into a raw connection."""
    conn.enable_load_extension(True)
    conn.load_extension(_vec0_path())
    conn.enable_load_extension(False)


def _prepare(conn: Any, keys: Keys) -> None:
    """Key a new connection and set it up; every connection goes through here."""
    conn.execute(_key_pragma(keys))  # must be the first statement
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA secure_delete = ON")
    # Every page read from disk is decrypted; a search over 100,000 chunks touches ~8 MB of
    # vector codes and full-text pages, which should stay decrypted in memory between queries.
    conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
    load_vec0(conn)


def connect_raw(path: Path, keys: Keys) -> sqlcipher.Connection:
    """One connection outside the pool, set up like the pool's (the key is checked once,
    by :meth:`Database.open`)."""
    conn = sqlcipher.connect(str(path), isolation_level=None, check_same_thread=False)
    _prepare(conn, keys)
    return conn


class Database:
    """The engine plus the two kinds of session Chatmina uses."""

    def __init__(self, path: Path, keys: Keys) -> None:
        self.path = path
        self.keys = keys
        self.engine = _make_engine(path, keys)
        self._read = sessionmaker(self.engine, expire_on_commit=False)
        self._write = sessionmaker(
            self.engine.execution_options(sqlite_immediate=True), expire_on_commit=False
        )
        # Writers in this process queue here, woken the moment the previous one commits.
        # Left to SQLite, a writer that finds the database locked sleeps in its busy handler
        # (up to 100 ms at a time): under load, answers waited on those sleeps, not on work.
        # Other processes (the command line) still meet the busy timeout.
        self._writer = threading.RLock()
        # What happened, recorded inside the write transaction that made it true (the
        # webhook queue subscribes): every writer holds the database, so every writer can emit.
        self.events = EventBus()

    @classmethod
    def open(cls, data_dir: Path, keys: Keys) -> Database:
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = data_dir / DB_FILE_NAME
        if path.exists():
            # Verify before the pool exists, so a wrong key never reaches a PRAGMA that writes.
            check_key(path, keys)
        return cls(path, keys)

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._read() as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A session whose transaction starts with BEGIN IMMEDIATE and commits on success."""
        with self._writer, self._write() as session, session.begin():
            yield session

    def checkpoint(self) -> None:
        with self.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self) -> None:
        self.engine.dispose()


def _make_engine(path: Path, keys: Keys) -> Engine:
    engine = create_engine(
        f"sqlite:///{path}",
        module=sqlcipher,
        poolclass=pool.QueuePool,
        pool_size=8,
        max_overflow=8,
        # Most recently used first: the same few connections serve most requests and keep
        # their page caches warm, instead of every pooled connection filling its own.
        pool_use_lifo=True,
        connect_args={"check_same_thread": False},
    )

    # insert=True: run before SQLAlchemy's own first-connect setup, which issues
    # "PRAGMA read_uncommitted"; PRAGMA key must be the first statement on a connection.
    @event.listens_for(engine, "connect", insert=True)
    def _on_connect(dbapi_conn: DBAPIConnection, _record: Any) -> None:
        # SQLAlchemy's own pysqlite transaction handling is replaced by explicit BEGINs below.
        dbapi_conn.isolation_level = None
        _prepare(dbapi_conn, keys)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get("sqlite_immediate")
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine
