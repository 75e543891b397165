"""A workspace's assistant: its settings, the model it answers with, its knowledge gaps.

The chat model comes from the instance's ``CHATMINA_LLM_*`` settings unless the workspace
chose its own in Settings → Assistant. Its API key is stored encrypted (AES-GCM, bound to
the workspace) and only ever shown masked.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, func, select

from chatmina import clock
from chatmina.assistant.models import AssistantSettings, KnowledgeGap
from chatmina.errors import NotFound, UserError
from chatmina.settings import Settings
from chatmina.storage import crypto
from chatmina.storage.db import Database
from chatmina.storage.keys import Keys

TONES = {
    "friendly": "Warm and friendly, in plain words.",
    "professional": "Polite, precise and professional.",
    "concise": "Brief and to the point: short sentences, no small talk.",
}
MODES = {
    "knowledge_only": "Only from the knowledge base",
    "general": "Knowledge base first, general knowledge allowed",
}
MAX_INSTRUCTIONS = 4000


@dataclass(frozen=True)
class ChatModelConfig:
    """Where answers come from. ``source`` says whether the workspace or the instance set it."""

    base_url: str
    api_key: str
    model: str
    timeout: float
    source: str


@dataclass(frozen=True)
class AssistantConfig:
    assistant_name: str = "Assistant"
    tone: str = "friendly"
    instructions: str = ""
    knowledge_mode: str = "knowledge_only"
    # Share of the question's words that the best passage must contain (see relevance()).
    relevance_threshold: float = 0.5
    max_sources: int = 6
    max_tool_calls: int = 4
    # The workspace's own model settings, as entered (empty: the instance's).
    own_base_url: str = ""
    own_model: str = ""
    own_key_masked: str = ""
    chat_model: ChatModelConfig | None = None  # None: no model, extractive answers


@dataclass(frozen=True)
class AssistantForm:
    assistant_name: str
    tone: str
    instructions: str
    knowledge_mode: str
    relevance_threshold: str
    max_sources: str
    max_tool_calls: str
    llm_base_url: str = ""
    llm_model: str = ""
    llm_api_key: str = ""  # empty: keep the stored key
    clear_llm_api_key: bool = False


def _key_identity(workspace_id: int) -> str:
    return f"assistant_settings:{workspace_id}"


def _chat_model(
    settings: Settings, keys: Keys, row: AssistantSettings | None
) -> ChatModelConfig | None:
    timeout = float(settings.llm_timeout_seconds)
    if row is not None and row.llm_model:
        api_key = (
            crypto.decrypt(keys.secrets, row.llm_api_key_encrypted, _key_identity(row.workspace_id))
            if row.llm_api_key_encrypted
            else ""
        )
        base_url = row.llm_base_url or settings.llm_base_url
        return ChatModelConfig(base_url, api_key, row.llm_model, timeout, "workspace")
    if settings.llm_model:
        return ChatModelConfig(
            settings.llm_base_url, settings.llm_api_key, settings.llm_model, timeout, "instance"
        )
    return None


def load_config(db: Database, keys: Keys, settings: Settings, workspace_id: int) -> AssistantConfig:
    with db.read() as s:
        row = s.get(AssistantSettings, workspace_id)
    chat_model = _chat_model(settings, keys, row)
    if row is None:
        return AssistantConfig(chat_model=chat_model)
    key_masked = ""
    if row.llm_api_key_encrypted and chat_model is not None and chat_model.source == "workspace":
        key_masked = crypto.mask(chat_model.api_key)
    elif row.llm_api_key_encrypted:
        key_masked = "********"
    return AssistantConfig(
        assistant_name=row.assistant_name,
        tone=row.tone,
        instructions=row.instructions,
        knowledge_mode=row.knowledge_mode,
        relevance_threshold=row.relevance_threshold,
        max_sources=row.max_sources,
        max_tool_calls=row.max_tool_calls,
        own_base_url=row.llm_base_url,
        own_model=row.llm_model,
        own_key_masked=key_masked,
        chat_model=chat_model,
    )


def _number(raw: str, field: str, label: str, low: float, high: float, whole: bool) -> float:
    text = raw.strip()
    try:
        value = int(text) if whole else float(text)
    except ValueError:
        kind = "a whole number" if whole else "a number"
        raise UserError(f"{label} must be {kind} between {low:g} and {high:g}.", field) from None
    if not math.isfinite(value) or not low <= value <= high:
        raise UserError(f"{label} must be between {low:g} and {high:g}.", field)
    return value


def _clean_url(raw: str, allowed_private_hosts: str) -> str:
    """A workspace's model is reached by the server: like URL imports, it may not be a
    link-local or cloud-metadata address, nor a private or loopback one unless the instance
    allows that host (CHATMINA_ALLOWED_PRIVATE_HOSTS). The instance's own CHATMINA_LLM_*
    settings are the operator's and are not checked."""
    from chatmina.net import Allowlist, BlockedAddress, OutboundError, check_destination

    value = raw.strip().rstrip("/")
    if not value:
        return ""
    if len(value) > 500:
        raise UserError("The model's base URL is longer than 500 characters.", "llm_base_url")
    try:
        check_destination(value, Allowlist.parse(allowed_private_hosts))
    except BlockedAddress as error:
        hint = (
            " To use a model on this machine or network, the instance's operator adds its "
            "host:port to CHATMINA_ALLOWED_PRIVATE_HOSTS."
            if error.allowable
            else ""
        )
        message = f"The model's address is not allowed: {error}.{hint}"
        raise UserError(message, "llm_base_url") from None
    except OutboundError as error:
        message = (
            f"The model's base URL cannot be used: {error}. Example: https://api.openai.com/v1"
        )
        raise UserError(message, "llm_base_url") from None
    return value


def save_config(
    db: Database,
    keys: Keys,
    workspace_id: int,
    form: AssistantForm,
    allowed_private_hosts: str = "",
) -> None:
    """Validate everything first; then write it in one transaction (or nothing)."""
    name = " ".join(form.assistant_name.split())
    if not name or len(name) > 60:
        raise UserError("Give the assistant a name of at most 60 characters.", "assistant_name")
    if form.tone not in TONES:
        raise UserError("Choose one of the tones offered.", "tone")
    instructions = form.instructions.strip().replace("\r\n", "\n")
    if len(instructions) > MAX_INSTRUCTIONS:
        raise UserError(
            f"Instructions are limited to {MAX_INSTRUCTIONS:,} characters "
            f"(these have {len(instructions):,}).",
            "instructions",
        )
    if form.knowledge_mode not in MODES:
        raise UserError("Choose what the assistant may answer from.", "knowledge_mode")
    threshold = _number(
        form.relevance_threshold, "relevance_threshold", "The relevance threshold", 0, 1, False
    )
    max_sources = int(_number(form.max_sources, "max_sources", "Sources", 1, 10, True))
    max_calls = int(
        _number(form.max_tool_calls, "max_tool_calls", "Function calls per answer", 0, 10, True)
    )
    base_url = _clean_url(form.llm_base_url, allowed_private_hosts)
    model = form.llm_model.strip()
    if len(model) > 200:
        raise UserError("The model name is longer than 200 characters.", "llm_model")
    if base_url and not model:
        raise UserError("Name the model to use at that URL.", "llm_model")
    new_key = form.llm_api_key.strip()
    if len(new_key) > 1000:
        raise UserError("That API key is longer than 1,000 characters.", "llm_api_key")
    with db.write() as s:
        row = s.get(AssistantSettings, workspace_id)
        if row is None:
            row = AssistantSettings(workspace_id=workspace_id, llm_api_key_encrypted="")
            s.add(row)
        row.assistant_name = name
        row.tone = form.tone
        row.instructions = instructions
        row.knowledge_mode = form.knowledge_mode
        row.relevance_threshold = threshold
        row.max_sources = max_sources
        row.max_tool_calls = max_calls
        row.llm_base_url = base_url
        row.llm_model = model
        if form.clear_llm_api_key:
            row.llm_api_key_encrypted = ""
        elif new_key:
            row.llm_api_key_encrypted = crypto.encrypt(
                keys.secrets, new_key, _key_identity(workspace_id)
            )
        row.updated_at = clock.now()


# -- knowledge gaps ---------------------------------------------------------------------


@dataclass(frozen=True)
class GapSummary:
    question: str  # the latest wording
    times: int
    last_asked: dt.datetime
    best_relevance: float
    gap_ids: list[int]


def record_gap(
    db: Database, workspace_id: int, conversation_id: int | None, question: str, relevance: float
) -> None:
    with db.write() as s:
        s.add(
            KnowledgeGap(
                workspace_id=workspace_id,
                conversation_id=conversation_id,
                question=question[:2000],
                best_relevance=round(relevance, 3),
                created_at=clock.now(),
            )
        )


def _normalise(question: str) -> str:
    return " ".join("".join(c for c in question.lower() if c.isalnum() or c.isspace()).split())


def list_gaps(db: Database, workspace_id: int, limit: int = 200) -> list[GapSummary]:
    """Unanswered questions, the same wording counted once, most asked first."""
    with db.read() as s:
        rows = s.scalars(
            select(KnowledgeGap)
            .where(KnowledgeGap.workspace_id == workspace_id)
            .order_by(KnowledgeGap.created_at.desc())
            .limit(5000)
        ).all()
    groups: dict[str, list[KnowledgeGap]] = {}
    for row in rows:
        groups.setdefault(_normalise(row.question), []).append(row)
    summaries = [
        GapSummary(
            question=g[0].question,
            times=len(g),
            last_asked=g[0].created_at,
            best_relevance=max(r.best_relevance for r in g),
            gap_ids=[r.id for r in g],
        )
        for g in groups.values()
    ]
    summaries.sort(key=lambda g: (-g.times, -g.last_asked.timestamp()))
    return summaries[:limit]


def gap_count(db: Database, workspace_id: int) -> int:
    with db.read() as s:
        return int(
            s.scalar(
                select(func.count())
                .select_from(KnowledgeGap)
                .where(KnowledgeGap.workspace_id == workspace_id)
            )
            or 0
        )


def dismiss_gaps(db: Database, workspace_id: int, gap_ids: Sequence[int]) -> int:
    """Forget these gaps (the knowledge now covers them). Returns how many went."""
    with db.write() as s:
        result = s.execute(
            delete(KnowledgeGap).where(
                KnowledgeGap.workspace_id == workspace_id, KnowledgeGap.id.in_(list(gap_ids))
            )
        )
    if not result.rowcount:  # type: ignore[attr-defined]
        raise NotFound("No such knowledge gap.")
    return int(result.rowcount)  # type: ignore[attr-defined]
