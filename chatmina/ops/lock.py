"""Who is using a data directory: the server, ordinary commands, or one maintenance command.

Two ``flock`` locks, which the kernel releases when a process dies, even by SIGKILL, so a
crash never leaves a stale lock behind:

- ``chatmina.pid``: the server holds it exclusively and writes its pid into it, so a second
  server on the same directory is refused and messages can name the running one.
- ``chatmina.lock``: the server and every command that opens the database hold it shared;
  ``restore`` and ``key rotate`` hold it exclusively, so they never run while anything else
  has the database open, and nothing opens it while they replace files.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from chatmina.errors import UserError

PID_FILE_NAME = "chatmina.pid"
LOCK_FILE_NAME = "chatmina.lock"

# Locks taken by this process live as long as it does; closing the file would release them.
_held: list[int] = []
_server_fd: list[int] = []


class DataDirBusy(UserError):
    type = "data-dir-busy"
    title = "Data directory in use"


def _open(path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)


def _try_lock(fd: int, operation: int) -> bool:
    try:
        fcntl.flock(fd, operation | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def server_pid(data_dir: Path) -> int | None:
    """The pid of the server running on ``data_dir``, or None when none is running."""
    path = data_dir / PID_FILE_NAME
    if not path.exists():
        return None
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if _try_lock(fd, fcntl.LOCK_SH):
            return None
        text = os.read(fd, 32).decode(errors="replace").strip()
    finally:
        os.close(fd)
    return int(text) if text.isdigit() else -1


def _busy_message(data_dir: Path, action: str) -> str:
    pid = server_pid(data_dir)
    if pid is not None:
        shown = f" (pid {pid})" if pid > 0 else ""
        return f"the Chatmina server is running on {data_dir}{shown}: stop it before you {action}"
    return f"another chatmina command is using {data_dir}: wait for it to finish, then {action}"


def hold_server(data_dir: Path) -> None:
    """Mark this process as the server of ``data_dir`` until it exits.

    The pid is written by :func:`record_server_pid` once start-up has succeeded: a start
    refused for a wrong key leaves every file as it was.
    """
    fd = _open(data_dir / PID_FILE_NAME)
    if not _try_lock(fd, fcntl.LOCK_EX):
        os.close(fd)
        pid = server_pid(data_dir)
        raise DataDirBusy(f"a Chatmina server is already running on {data_dir} (pid {pid})")
    _held.append(fd)
    _server_fd[:] = [fd]
    hold_shared(data_dir)


def record_server_pid() -> None:
    for fd in _server_fd:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)


def hold_shared(data_dir: Path) -> None:
    """Use ``data_dir`` alongside others until this process exits."""
    fd = _open(data_dir / LOCK_FILE_NAME)
    if not _try_lock(fd, fcntl.LOCK_SH):
        os.close(fd)
        raise DataDirBusy(
            f"a maintenance command (restore or key rotate) is running on {data_dir}: "
            "wait for it to finish"
        )
    _held.append(fd)


@contextlib.contextmanager
def exclusive(data_dir: Path, action: str) -> Iterator[None]:
    """Be the only process using ``data_dir`` for the duration (restore, key rotation)."""
    fd = _open(data_dir / LOCK_FILE_NAME)
    try:
        if not _try_lock(fd, fcntl.LOCK_EX):
            raise DataDirBusy(_busy_message(data_dir, action))
        yield
    finally:
        os.close(fd)


def release_all() -> None:
    """Drop every lock this process holds (tests that run commands in-process)."""
    _server_fd.clear()
    while _held:
        os.close(_held.pop())
