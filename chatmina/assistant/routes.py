"""Assistant pages: its settings (with a check of the chat model) and the knowledge gaps,
the questions the knowledge base could not answer. The playground is in
playground_routes.py."""

from __future__ import annotations

from functools import partial
from typing import Any

import anyio.to_thread
from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath

from chatmina.accounts.roles import Permission
from chatmina.assistant import service
from chatmina.assistant.check import ModelCheck, check_model
from chatmina.assistant.llm import shown_url
from chatmina.errors import UserError
from chatmina.ui.forms import Form, checked, echo, text
from chatmina.ui.guards import member_workspace, requires
from chatmina.ui.render import audit, form_errors, page, redirect, services_of

Req = Request[Any, Any, Any]
Slug = FromPath[str]
SETTINGS = requires(Permission.MANAGE_SETTINGS)
MANAGE_KNOWLEDGE = requires(Permission.MANAGE_KNOWLEDGE)
# The service gives the precise "limited to N characters" message; the form layer only
# stops absurd bodies.
FIELD_LIMITS = {
    "assistant_name": 500,
    "tone": 50,
    "instructions": service.MAX_INSTRUCTIONS * 2,
    "knowledge_mode": 50,
    "relevance_threshold": 50,
    "max_sources": 50,
    "max_tool_calls": 50,
    "llm_base_url": 2000,
    "llm_model": 1000,
}
# What the audit log calls each setting (never its value: the detail must stay harmless).
AUDIT_NAMES = {
    "assistant_name": "name",
    "tone": "tone",
    "instructions": "instructions",
    "knowledge_mode": "answers from",
    "relevance_threshold": "relevance threshold",
    "max_sources": "sources per answer",
    "max_tool_calls": "function calls per answer",
    "own_base_url": "model URL",
    "own_model": "model",
}
MAX_DISMISS = 5000


def _workspace_id(request: Req) -> int:
    return member_workspace(request).id


def _config(request: Req) -> service.AssistantConfig:
    svc = services_of(request)
    return service.load_config(svc.db, svc.keys, svc.settings, _workspace_id(request))


def _values(config: service.AssistantConfig) -> dict[str, Any]:
    return {
        "assistant_name": config.assistant_name,
        "tone": config.tone,
        "instructions": config.instructions,
        "knowledge_mode": config.knowledge_mode,
        "relevance_threshold": f"{config.relevance_threshold:g}",
        "max_sources": str(config.max_sources),
        "max_tool_calls": str(config.max_tool_calls),
        "llm_base_url": config.own_base_url,
        "llm_model": config.own_model,
        "clear_llm_api_key": False,
    }


def _echo(data: dict[str, Any]) -> dict[str, Any]:
    """What was typed, to show again after an error; never the API key."""
    values: dict[str, Any] = {name: echo(data, name, n) for name, n in FIELD_LIMITS.items()}
    values["clear_llm_api_key"] = checked(data, "clear_llm_api_key")
    return values


def _form(data: dict[str, Any]) -> service.AssistantForm:
    fields = {name: text(data, name, n) for name, n in FIELD_LIMITS.items()}
    return service.AssistantForm(
        **fields,
        llm_api_key=text(data, "llm_api_key", 2000),
        clear_llm_api_key=checked(data, "clear_llm_api_key"),
    )


def _changes(
    before: service.AssistantConfig, after: service.AssistantConfig, form: service.AssistantForm
) -> str:
    changed = [
        label
        for name, label in AUDIT_NAMES.items()
        if getattr(before, name) != getattr(after, name)
    ]
    if form.clear_llm_api_key and before.own_key_masked:
        changed.append("API key removed")
    elif form.llm_api_key.strip() and not form.clear_llm_api_key:
        changed.append("API key replaced")
    return "Changed: " + ", ".join(changed) if changed else "Saved without changes"


class AssistantController(Controller):
    path = "/w/{slug:str}/assistant"
    include_in_schema = False
    guards = [SETTINGS]

    def _page(
        self,
        request: Req,
        values: dict[str, Any] | None = None,
        status_code: int = 200,
        **extra: Any,
    ) -> Response[Any]:
        settings = services_of(request).settings
        config = _config(request)
        return page(
            request,
            "assistant/settings.html",
            nav="assistant",
            status_code=status_code,
            values=values if values is not None else _values(config),
            config=config,
            tones=[(k, f"{k.capitalize()}: {v}") for k, v in service.TONES.items()],
            modes=list(service.MODES.items()),
            instance_model=settings.llm_model,
            instance_url=shown_url(settings.llm_base_url) if settings.llm_model else "",
            current_url=shown_url(config.chat_model.base_url) if config.chat_model else "",
            **extra,
        )

    @get("/", sync_to_thread=True)
    def settings(self, request: Req, slug: Slug) -> Response[Any]:
        return self._page(request)

    @post("/", sync_to_thread=True)
    def save(self, request: Req, slug: Slug, data: Form) -> Response[Any]:
        svc = services_of(request)
        before = _config(request)
        try:
            form = _form(data)
            service.save_config(
                svc.db,
                svc.keys,
                _workspace_id(request),
                form,
                svc.settings.allowed_private_hosts,
            )
        except UserError as exc:
            return self._page(request, _echo(data), exc.status_code, errors=form_errors(exc))
        audit(request, "assistant.settings_changed", _changes(before, _config(request), form))
        return redirect(request, f"/w/{slug}/assistant", ("success", "Assistant settings saved."))

    @post("/test")
    async def check(self, request: Req, slug: Slug) -> Response[Any]:
        """Ask the saved model one tiny question; say how it went and how long it took."""
        config = await anyio.to_thread.run_sync(_config, request)
        check: ModelCheck | None = None
        if config.chat_model is not None:
            check = await check_model(services_of(request).answerer, config.chat_model)
        return await anyio.to_thread.run_sync(
            partial(self._page, request, check=check, checked_without_model=check is None)
        )


class GapsController(Controller):
    """Under Knowledge: what visitors asked that the knowledge base could not answer."""

    path = "/w/{slug:str}/knowledge/gaps"
    include_in_schema = False
    guards = [MANAGE_KNOWLEDGE]

    @get("/", sync_to_thread=True)
    def gaps(self, request: Req, slug: Slug) -> Response[Any]:
        db = services_of(request).db
        return page(
            request,
            "assistant/gaps.html",
            nav="knowledge",
            gaps=service.list_gaps(db, _workspace_id(request)),
        )

    @post("/dismiss", sync_to_thread=True)
    def dismiss(self, request: Req, slug: Slug, data: Form) -> Response[Any]:
        ids = _gap_ids(text(data, "ids", 100_000))
        count = service.dismiss_gaps(services_of(request).db, _workspace_id(request), ids)
        audit(request, "knowledge.gap_dismissed", f"{count} question(s)")
        return redirect(request, f"/w/{slug}/knowledge/gaps", ("success", "Question dismissed."))


def _gap_ids(raw: str) -> list[int]:
    """The comma-separated ids a Dismiss button carries (one per time it was asked)."""
    parts = [p.strip() for p in raw.split(",") if p.strip()]
    valid = all(p.isascii() and p.isdigit() and len(p) < 16 for p in parts)
    if not parts or len(parts) > MAX_DISMISS or not valid:
        raise UserError("Choose a question to dismiss.", "ids")
    return [int(p) for p in parts]
