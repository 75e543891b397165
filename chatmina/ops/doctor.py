"""``chatmina doctor``: look at an installation the way a support engineer would.

Each check returns findings (ok, warn or FAIL) with a detail that says what to do. Checks
read and probe; the only thing they change is what opening the database always changes.
"""

from __future__ import annotations

import os
import shutil
import smtplib
import ssl
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chatmina.settings import Settings
from chatmina.storage.keys import DB_FILE_NAME, KEY_FILE_NAME, KeyError_, Keys, load_keys

OK, WARN, FAIL = "ok", "warn", "FAIL"
PROBE_TIMEOUT = 5.0
MIN_FREE_BYTES = 1 << 30


@dataclass(frozen=True)
class Finding:
    status: str
    check: str
    detail: str


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def _walk(data_dir: Path) -> Iterator[Path]:
    """The data directory's files, and those one level down (backups/, outbox/)."""
    for path in sorted(data_dir.iterdir()):
        yield path
        if path.is_dir() and not path.is_symlink():
            yield from sorted(path.iterdir())


def check_data_dir(data_dir: Path) -> list[Finding]:
    name = "data directory"
    if not data_dir.exists():
        return [Finding(WARN, name, f"{data_dir} does not exist yet (created on first start)")]
    if not data_dir.is_dir():
        return [Finding(FAIL, name, f"{data_dir} is not a directory")]
    info = data_dir.stat()
    if info.st_uid != os.geteuid():
        return [
            Finding(
                FAIL,
                name,
                f"{data_dir} belongs to uid {info.st_uid}, not to the user running Chatmina "
                f"(uid {os.geteuid()}): chown -R that user {data_dir}",
            )
        ]
    if not os.access(data_dir, os.W_OK | os.X_OK):
        return [Finding(FAIL, name, f"{data_dir} is not writable by this user")]
    findings = []
    if _mode(data_dir) & 0o077:
        findings.append(
            Finding(
                FAIL,
                name,
                f"{data_dir} has mode {_mode(data_dir):04o}: other users can look inside; "
                f"chmod 700 {data_dir}",
            )
        )
    exposed = [p for p in _walk(data_dir) if not p.is_symlink() and _mode(p) & 0o077]
    if exposed:
        shown = ", ".join(f"{p.relative_to(data_dir)} ({_mode(p):04o})" for p in exposed[:5])
        more = f" and {len(exposed) - 5} more" if len(exposed) > 5 else ""
        findings.append(
            Finding(
                FAIL,
                "file permissions",
                f"readable by other users: {shown}{more}; chmod -R go= {data_dir}",
            )
        )
    if not findings:
        findings.append(Finding(OK, name, f"{data_dir} (mode 0700, owned by this user)"))
    return findings


def check_key(settings: Settings) -> tuple[Keys | None, list[Finding]]:
    data_dir = settings.data_path
    findings = []
    journal = data_dir / (KEY_FILE_NAME + ".new")
    if journal.exists():
        findings.append(
            Finding(
                FAIL,
                "key rotation",
                f"{journal} is left from an interrupted key rotation: "
                "run chatmina key rotate to finish it",
            )
        )
    if (data_dir / (KEY_FILE_NAME + ".old")).exists():
        findings.append(
            Finding(
                WARN,
                "key rotation",
                f"{data_dir / (KEY_FILE_NAME + '.old')} is the key from before a rotation; "
                "delete it",
            )
        )
    if not settings.master_key and not (data_dir / KEY_FILE_NAME).exists():
        if (data_dir / DB_FILE_NAME).exists():
            findings.append(Finding(FAIL, "master key", "no key found for the existing database"))
        else:
            findings.append(Finding(WARN, "master key", "none yet (created on first start)"))
        return None, findings
    try:
        keys = load_keys(settings, create=False)
    except KeyError_ as exc:
        return None, [*findings, Finding(FAIL, "master key", str(exc))]
    source = settings.sources.get("master_key") if settings.master_key else None
    if source == "CHATMINA_MASTER_KEY":
        findings.append(
            Finding(
                WARN,
                "master key",
                "from CHATMINA_MASTER_KEY, visible to anyone who can read this process's "
                "environment: prefer CHATMINA_MASTER_KEY_FILE",
            )
        )
    elif source is None:
        findings.append(
            Finding(
                OK,
                "master key",
                f"{keys.source}, next to the data: keep a copy somewhere else",
            )
        )
    else:
        findings.append(Finding(OK, "master key", f"from {source}"))
    return keys, findings


def check_database(data_dir: Path, keys: Keys) -> list[Finding]:
    import sqlcipher3.dbapi2 as sqlcipher

    from chatmina.storage.db import _cipher_log_off, check_key, connect_raw

    path = data_dir / DB_FILE_NAME
    if not path.exists():
        return [Finding(WARN, "database", f"{path} does not exist yet (created on first start)")]
    try:
        check_key(path, keys)
    except KeyError_ as exc:
        return [Finding(FAIL, "database", str(exc))]
    conn = connect_raw(path, keys)
    try:
        with _cipher_log_off():
            damaged = [r[0] for r in conn.execute("PRAGMA cipher_integrity_check")]
            problems = [r[0] for r in conn.execute("PRAGMA integrity_check") if r[0] != "ok"]
    except sqlcipher.DatabaseError as exc:
        return [Finding(FAIL, "database", f"{path} is damaged ({exc}): restore a backup")]
    finally:
        conn.close()
    if damaged or problems:
        shown = "; ".join((damaged + problems)[:3])
        return [Finding(FAIL, "database", f"{path} is damaged ({shown}): restore a backup")]
    size = path.stat().st_size / 1e6
    return [Finding(OK, "database", f"{path} ({size:.1f} MB): integrity check passed")]


def check_disk(data_dir: Path) -> list[Finding]:
    where = data_dir if data_dir.exists() else data_dir.parent
    if not where.exists():
        return []
    free = shutil.disk_usage(where).free
    db = data_dir / DB_FILE_NAME
    size = db.stat().st_size if db.exists() else 0
    shown = f"{free / 1e9:.1f} GB free on the data directory's disk"
    if free < size + (100 << 20):
        return [Finding(FAIL, "free disk", f"{shown}: not enough for one backup")]
    if free < max(2 * size, MIN_FREE_BYTES):
        return [Finding(WARN, "free disk", f"{shown}: backups and growth need more")]
    return [Finding(OK, "free disk", shown)]


def check_smtp(settings: Settings, keys: Keys) -> list[Finding]:
    from chatmina.mail.service import Mailer, smtp_session
    from chatmina.storage.crypto import DecryptionError
    from chatmina.storage.db import Database

    db = Database.open(settings.data_path, keys)
    try:
        smtp = Mailer(db, keys, settings.data_path, settings.mail_from).smtp_settings()
    except DecryptionError:
        return [Finding(FAIL, "smtp", "the stored SMTP password does not decrypt: enter it again")]
    finally:
        db.close()
    if smtp is None:
        return [Finding(OK, "smtp", "not configured: emails go to the encrypted outbox")]
    where = f"{smtp.host}:{smtp.port}"
    try:
        with smtp_session(smtp, PROBE_TIMEOUT):
            pass
    except smtplib.SMTPAuthenticationError:
        return [Finding(FAIL, "smtp", f"{where} refused the user name or password")]
    except (smtplib.SMTPException, ssl.SSLError) as exc:
        return [Finding(FAIL, "smtp", f"{where}: {exc}")]
    except OSError as exc:
        return [Finding(FAIL, "smtp", f"cannot reach {where}: {exc.strerror or exc}")]
    login = ", login ok" if smtp.username else ""
    return [Finding(OK, "smtp", f"{where} reachable ({smtp.security}{login})")]


def _providers(settings: Settings) -> list[tuple[str, str, str, str]]:
    """(name, base URL, API key, model) of each OpenAI-compatible server in use: the chat
    model when one is set, the embeddings server when embeddings=openai."""
    found = []
    if settings.llm_model:
        found.append(("llm", settings.llm_base_url, settings.llm_api_key, settings.llm_model))
    if settings.embeddings == "openai":
        found.append(
            (
                "embeddings",
                settings.embeddings_base_url,
                settings.embeddings_api_key,
                settings.embeddings_model,
            )
        )
    return found


def check_llm(settings: Settings) -> list[Finding]:
    import httpx

    providers = _providers(settings)
    if not providers:
        return [Finding(OK, "llm", "none configured: answers quote the knowledge base")]
    findings = []
    for name, base_url, api_key, model in providers:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        try:
            response = httpx.get(
                base_url.rstrip("/") + "/models", headers=headers, timeout=PROBE_TIMEOUT
            )
        except httpx.HTTPError as exc:
            findings.append(Finding(FAIL, name, f"cannot reach {base_url}: {exc}"))
            continue
        if response.status_code in (401, 403):
            findings.append(Finding(FAIL, name, f"{base_url} refused the API key"))
        elif response.status_code >= 400:
            findings.append(
                Finding(WARN, name, f"{base_url} answered {response.status_code} to /models")
            )
        elif not _lists_model(response, model):
            findings.append(Finding(WARN, name, f"{base_url} does not list the model {model}"))
        else:
            findings.append(Finding(OK, name, f"{base_url} reachable, model {model} listed"))
    return findings


def _lists_model(response: Any, model: str) -> bool:
    """Whether /models lists ``model``; servers that answer something else get the benefit
    of the doubt."""
    try:
        ids = {str(m.get("id")) for m in response.json()["data"]}
    except (ValueError, KeyError, TypeError, AttributeError):
        return True
    return model in ids or any(i.split(":")[0] == model.split(":")[0] for i in ids)


def run_checks(settings: Settings) -> list[Finding]:
    findings = check_data_dir(settings.data_path)
    keys, key_findings = check_key(settings)
    findings += key_findings
    if keys is not None:
        findings += check_database(settings.data_path, keys)
    findings += check_disk(settings.data_path)
    database_ok = not any(f.status == FAIL and f.check == "database" for f in findings)
    if keys is not None and database_ok and (settings.data_path / DB_FILE_NAME).exists():
        findings += check_smtp(settings, keys)
    findings += check_llm(settings)
    return findings
