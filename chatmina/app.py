"""The app factory: every router, middleware and plugin, listed in one place."""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import State
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.plugins import PluginProtocol
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.template import TemplateConfig

from chatmina import __version__
from chatmina.accounts import service as accounts
from chatmina.accounts.api import AccountsApi
from chatmina.accounts.passwords import Passwords
from chatmina.accounts.routes import AccountController, SignInController
from chatmina.accounts.workspace_routes import WorkspaceController
from chatmina.assistant.api import ChatApi
from chatmina.assistant.pipeline import Answerer
from chatmina.assistant.playground_routes import PlaygroundController
from chatmina.assistant.routes import AssistantController, GapsController
from chatmina.conversations.api import WidgetApi
from chatmina.conversations.cors import widget_cors
from chatmina.conversations.demo_routes import demo_page
from chatmina.conversations.live import Live
from chatmina.conversations.notify import HandoffMail
from chatmina.conversations.routes import InboxController
from chatmina.conversations.settings_routes import WidgetSettingsController
from chatmina.conversations.widget_js import serve_widget
from chatmina.functions.api import FunctionsApi
from chatmina.functions.dispatch import FunctionDispatcher
from chatmina.functions.routes import FunctionsController
from chatmina.knowledge import embedders, embedding_sets
from chatmina.knowledge import imports as knowledge_imports
from chatmina.knowledge.api import KnowledgeApi
from chatmina.knowledge.jobs import KnowledgeJobs
from chatmina.knowledge.routes import KnowledgeController
from chatmina.mail.routes import EmailController
from chatmina.mail.service import Mailer
from chatmina.ops.streams import end_streams_on_stop
from chatmina.paths import TEMPLATES_DIR
from chatmina.ratelimit import RateLimiter
from chatmina.settings import Settings
from chatmina.storage.db import Database
from chatmina.storage.keys import load_keys
from chatmina.storage.migrate import migrate
from chatmina.ui import errors, forms, pages, static
from chatmina.ui.context import Services
from chatmina.ui.middleware import AuthMiddleware, security_headers
from chatmina.webhooks import queue as webhook_queue
from chatmina.webhooks.api import WebhooksApi
from chatmina.webhooks.routes import WebhooksController

log = logging.getLogger("chatmina")

LOGIN_WINDOW_SECONDS = 15 * 60


def build_services(settings: Settings) -> Services:
    """Open (or create) the data directory and database. Raises KeyError_ on a wrong key."""
    keys = load_keys(settings)
    db = Database.open(settings.data_path, keys)
    migrate(db)
    vectors = embedding_sets.prepare(db, keys, embedders.from_settings(settings))
    # Event webhooks: one queued delivery per subscribed endpoint, in the event's transaction.
    db.events.subscribe(webhook_queue.record_event)
    mailer = Mailer(db, keys, settings.data_path, settings.mail_from)
    live = Live(db, settings)
    services = Services(
        settings=settings,
        keys=keys,
        db=db,
        passwords=Passwords(settings.password_hashing),
        mailer=mailer,
        session_policy=accounts.SessionPolicy(
            idle=dt.timedelta(minutes=settings.session_idle_minutes),
            absolute=dt.timedelta(hours=settings.session_max_hours),
        ),
        login_per_account=RateLimiter(settings.login_attempts_per_account, LOGIN_WINDOW_SECONDS),
        login_per_ip=RateLimiter(settings.login_attempts_per_ip, LOGIN_WINDOW_SECONDS),
        public_per_ip=RateLimiter(30, 60),
        vectors=vectors,
        knowledge=KnowledgeJobs(db, vectors),
        answerer=Answerer(db, keys, settings, vectors, FunctionDispatcher(db, keys, settings)),
        live=live,
        handoff_mail=HandoffMail(db, mailer, live.broker, settings.base_url),
        trusted_proxies=frozenset(
            p.strip() for p in settings.trusted_proxies.split(",") if p.strip()
        ),
    )
    if not accounts.has_users(db):
        services.setup_token = secrets.token_urlsafe(24)
    return services


class ChatminaApp(Litestar):
    """Litestar without its automatic pydantic plugins.

    Chatmina's API is msgspec throughout. pydantic is only installed because the openai
    client needs it, and Litestar would otherwise load its pydantic plugins at start-up
    (~130 ms and several MB) for nothing.
    """

    @staticmethod
    def _get_default_plugins(plugins: list[PluginProtocol]) -> list[PluginProtocol]:
        from litestar.plugins.core import MsgspecDIPlugin

        return [*plugins, MsgspecDIPlugin()]


def _template_engine(engine: JinjaTemplateEngine) -> None:
    engine.engine.globals["static_url"] = static.static_url
    engine.engine.globals["version"] = __version__


def create_app(services: Services, *, run_scheduler: bool = True) -> Litestar:
    @asynccontextmanager
    async def lifespan(_app: Litestar) -> AsyncIterator[None]:
        scheduler: Any = None
        deliveries: Any = None
        if run_scheduler:
            from chatmina.scheduler import create_scheduler
            from chatmina.webhooks.jobs import DeliveryWorker

            deliveries = DeliveryWorker(
                services.db, services.keys, services.settings, services.mailer
            )
            scheduler = create_scheduler(services, deliveries)
            scheduler.start()
            # A job still "running" belongs to a server process that is gone.
            knowledge_imports.interrupt_running(services.db)
            services.knowledge.start_reembedding()
        try:
            yield
        finally:
            if scheduler is not None:
                scheduler.shutdown(wait=False)
                await deliveries.aclose()  # a tick in flight is leased: retried after restart
            services.knowledge.stop()
            await services.live.answers.close()
            services.handoff_mail.close()
            await services.answerer.clients.close()
            if isinstance(services.answerer.dispatcher, FunctionDispatcher):
                await services.answerer.dispatcher.aclose()
            services.db.checkpoint()

    app = ChatminaApp(
        route_handlers=[
            pages.healthz,
            pages.api_docs,
            static.serve_static,
            serve_widget,
            demo_page,
            SignInController,
            AccountController,
            WorkspaceController,
            KnowledgeController,
            GapsController,
            AssistantController,
            PlaygroundController,
            FunctionsController,
            WebhooksController,
            EmailController,
            AccountsApi,
            KnowledgeApi,
            FunctionsApi,
            ChatApi,
            WidgetApi,
            InboxController,
            WidgetSettingsController,
            WebhooksApi,
        ],
        middleware=[end_streams_on_stop, widget_cors, AuthMiddleware()],
        before_send=[security_headers(hsts=services.settings.secure_cookies)],
        csrf_config=CSRFConfig(
            secret=services.keys.signing.hex(),
            cookie_name="chatmina_csrf",
            cookie_secure=services.settings.secure_cookies,
            cookie_httponly=True,
            cookie_samesite="lax",
            # The API authenticates with Bearer keys, never cookies, so it cannot be forged
            # cross-site; /healthz and static files take no input.
            # The widget API authenticates visitors with Bearer tokens, never cookies.
            exclude=["/api/v1/", "/v1/", "/api/widget/"],
        ),
        template_config=TemplateConfig(
            directory=TEMPLATES_DIR, engine=JinjaTemplateEngine, engine_callback=_template_engine
        ),
        openapi_config=OpenAPIConfig(
            title="Chatmina API",
            version=__version__,
            path="/schema",
            render_plugins=[JsonRenderPlugin()],
            components=Components(
                security_schemes={
                    "apiKey": SecurityScheme(
                        type="http", scheme="bearer", description="A workspace API key"
                    ),
                    "visitorToken": SecurityScheme(
                        type="http",
                        scheme="bearer",
                        description="A widget visitor's token, from POST /visitors",
                    ),
                }
            ),
        ),
        exception_handlers={Exception: errors.handle_exception},
        lifespan=[lifespan],
        state=State({"services": services}),
        request_max_body_size=forms.MAX_REQUEST_BODY,
        debug=False,
    )
    # Live inbox updates render the same templates as the pages.
    services.live.jinja = app.template_engine.engine  # type: ignore[union-attr]
    return app
