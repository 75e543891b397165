"""Knowledge pages: articles (list, edit with preview), imports with live progress, and
the "Test search" page that shows what the assistant would find and why."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, FromQuery, QueryParameter
from litestar.response import ServerSentEvent

from chatmina.accounts.roles import Permission
from chatmina.accounts.schemas import RowId
from chatmina.errors import UserError
from chatmina.knowledge import embedding_sets, imports, service
from chatmina.knowledge.markdown import render
from chatmina.ui.context import Auth, get_auth
from chatmina.ui.forms import Form, checked, echo, text
from chatmina.ui.guards import member_workspace, requires
from chatmina.ui.render import audit, form_errors, page, redirect, services_of

if TYPE_CHECKING:
    from chatmina.knowledge.parsers import ImportLimits
    from chatmina.net import Allowlist

Req = Request[Any, Any, Any]
Slug = FromPath[str]
Upload = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.MULTI_PART)]
PageNo = Annotated[int, QueryParameter(name="page", ge=1, le=100_000)]
Q = FromQuery[str]
UPLOAD_MAX_BYTES = 512 * 1024 * 1024
MAX_UPLOAD_FILES = 1000
PROGRESS_INTERVAL = 0.4
MANAGE = requires(Permission.MANAGE_KNOWLEDGE)
VIEW = requires(Permission.VIEW_WORKSPACE)


def _auth(request: Req) -> Auth:
    auth = get_auth(request.scope)
    assert auth.user is not None and auth.workspace is not None
    return auth


def _ws(request: Req) -> int:
    return member_workspace(request).id


def limits_of(request: Req) -> ImportLimits:
    from chatmina.knowledge.parsers import ImportLimits  # the parsers load on first use

    return ImportLimits(max_file_bytes=services_of(request).settings.import_max_file_mb << 20)


def allowlist_of(request: Req) -> Allowlist:
    from chatmina.net import Allowlist  # with httpx: ~130 ms, only for URL imports

    return Allowlist.parse(services_of(request).settings.allowed_private_hosts)


def _article_form(data: dict[str, Any]) -> service.ArticleInput:
    return service.ArticleInput(
        title=text(data, "title", service.MAX_TITLE * 2),
        body=text(data, "body", service.MAX_BODY),
        source_url=text(data, "source_url", 2000),
        tags=service.split_tags(text(data, "tags", 2000)),
        status="published" if checked(data, "published") else "draft",
    )


def _echo_article(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "title": echo(data, "title", service.MAX_TITLE * 2),
        "body": echo(data, "body", service.MAX_BODY),
        "source_url": echo(data, "source_url", 2000),
        "tags": echo(data, "tags", 2000),
        "published": checked(data, "published"),
    }


class KnowledgeController(Controller):
    path = "/w/{slug:str}/knowledge"
    include_in_schema = False

    # -- articles ------------------------------------------------------------------------

    @get("/", guards=[VIEW], sync_to_thread=True)
    def articles(
        self,
        request: Req,
        slug: Slug,
        q: Q = "",
        status: Q = "",
        tag: Q = "",
        page_no: PageNo = 1,
    ) -> Response[Any]:
        svc = services_of(request)
        ws = _ws(request)
        filters = {
            "q": q[:200],
            "status": status if status in service.STATUSES else "",
            "tag": tag[:50],
        }
        listing = service.list_articles(
            svc.db,
            ws,
            q=filters["q"],
            status=filters["status"] or None,
            tag=filters["tag"] or None,
            page=page_no,
        )
        return page(
            request,
            "knowledge/articles.html",
            nav="knowledge",
            listing=listing,
            filters=filters,
            tags=service.list_tags(svc.db, ws),
            stats=service.stats(svc.db, ws),
            jobs=imports.list_jobs(svc.db, ws, limit=5),
            reembedding=embedding_sets.progress(svc.db, svc.vectors),
            embedder=svc.vectors.active.spec,
        )

    def _editor(
        self,
        request: Req,
        article_id: int | None,
        values: dict[str, Any],
        status_code: int = 200,
        **extra: Any,
    ) -> Response[Any]:
        svc = services_of(request)
        chunks = service.chunks_of(svc.db, _ws(request), article_id) if article_id else []
        return page(
            request,
            "knowledge/edit.html",
            nav="knowledge",
            status_code=status_code,
            article_id=article_id,
            values=values,
            chunks=chunks,
            **extra,
        )

    @get("/new", guards=[MANAGE], sync_to_thread=True)
    def new(self, request: Req, slug: Slug, title: Q = "") -> Response[Any]:
        """``?title=`` starts the form with a title (from Knowledge gaps: the question)."""
        return self._editor(request, None, {"published": True, "title": title[: service.MAX_TITLE]})

    @get("/{article_id:int}", guards=[VIEW], sync_to_thread=True)
    def edit(self, request: Req, slug: Slug, article_id: RowId) -> Response[Any]:
        article, tags = service.get_article(services_of(request).db, _ws(request), article_id)
        values = {
            "title": article.title,
            "body": article.body,
            "source_url": article.source_url,
            "tags": ", ".join(tags),
            "published": article.status == "published",
        }
        return self._editor(
            request, article_id, values, article=article, preview=render(article.body)
        )

    def _save(self, request: Req, article_id: int | None, data: dict[str, Any]) -> Response[Any]:
        svc = services_of(request)
        ws = _ws(request)
        values = _echo_article(data)
        if data.get("action") == "preview":
            return self._editor(request, article_id, values, preview=render(values["body"]))
        try:
            form = _article_form(data)
            if article_id is None:
                article = service.create_article(svc.db, svc.vectors, ws, form)
            else:
                article = service.update_article(svc.db, svc.vectors, ws, article_id, form)
        except UserError as exc:
            if exc.status_code == 404:
                raise
            return self._editor(
                request, article_id, values, exc.status_code, errors=form_errors(exc)
            )
        audit(
            request, "article.created" if article_id is None else "article.updated", article.title
        )
        return redirect(
            request,
            f"/w/{member_workspace(request).slug}/knowledge/{article.id}",
            ("success", "Article saved."),
        )

    @post("/new", guards=[MANAGE], sync_to_thread=True)
    def create(self, request: Req, slug: Slug, data: Form) -> Response[Any]:
        return self._save(request, None, data)

    @post("/{article_id:int}", guards=[MANAGE], sync_to_thread=True)
    def update(self, request: Req, slug: Slug, article_id: RowId, data: Form) -> Response[Any]:
        return self._save(request, article_id, data)

    @post("/{article_id:int}/delete", guards=[MANAGE], sync_to_thread=True)
    def delete(self, request: Req, slug: Slug, article_id: RowId) -> Response[Any]:
        article = service.delete_article(services_of(request).db, _ws(request), article_id)
        audit(request, "article.deleted", article.title)
        return redirect(request, f"/w/{slug}/knowledge", ("success", f"Deleted “{article.title}”."))

    # -- search --------------------------------------------------------------------------

    @get("/search", guards=[VIEW], sync_to_thread=True)
    def search(
        self,
        request: Req,
        slug: Slug,
        q: Q = "",
        mode: Q = "hybrid",
        status: Q = "published",
        tags: Q = "",
    ) -> Response[Any]:
        svc = services_of(request)
        values = {"q": q[:2000], "mode": mode, "status": status, "tags": tags[:500]}
        hits: list[service.Hit] = []
        errors: dict[str, str] = {}
        status_code = 200
        if q.strip():
            try:
                hits = service.search(
                    svc.db,
                    svc.vectors,
                    _ws(request),
                    q,
                    limit=10,
                    mode=mode,
                    status=None if status == "any" else status,
                    tags=service.split_tags(tags),
                )
            except UserError as exc:
                errors, status_code = form_errors(exc), exc.status_code
        return page(
            request,
            "knowledge/search.html",
            nav="knowledge",
            status_code=status_code,
            values=values,
            hits=hits,
            errors=errors,
            searched=bool(q.strip()) and not errors,
            terms=service.index.query_terms(q) if q.strip() else [],
        )

    # -- imports -------------------------------------------------------------------------

    def _import_page(self, request: Req, status_code: int = 200, **extra: Any) -> Response[Any]:
        svc = services_of(request)
        return page(
            request,
            "knowledge/import.html",
            nav="knowledge",
            status_code=status_code,
            jobs=imports.list_jobs(svc.db, _ws(request), limit=20),
            max_mb=svc.settings.import_max_file_mb,
            **{"values": {}, **extra},
        )

    @get("/import", guards=[MANAGE], sync_to_thread=True)
    def import_page(self, request: Req, slug: Slug) -> Response[Any]:
        return self._import_page(request)

    @post(
        "/import/files",
        guards=[MANAGE],
        sync_to_thread=True,
        request_max_body_size=UPLOAD_MAX_BYTES,
    )
    def import_files(self, request: Req, slug: Slug, data: Upload) -> Response[Any]:
        svc = services_of(request)
        auth = _auth(request)
        assert auth.workspace is not None and auth.user is not None
        limits = limits_of(request)
        try:
            files = read_uploads(data, limits.max_file_bytes)
        except UserError as exc:
            return self._import_page(request, exc.status_code, errors=form_errors(exc))
        status = "published" if data.get("publish") in ("1", "on") else "draft"
        job_id = svc.knowledge.start_file_import(
            auth.workspace.id, auth.user.id, files, limits, status
        )
        audit(request, "knowledge.import_started", f"{len(files)} file(s)")
        return redirect(request, f"/w/{slug}/knowledge/imports/{job_id}")

    @post("/import/url", guards=[MANAGE], sync_to_thread=True)
    def import_url(self, request: Req, slug: Slug, data: Form) -> Response[Any]:
        svc = services_of(request)
        auth = _auth(request)
        values = {"url": echo(data, "url", 2000), "sitemap": checked(data, "sitemap")}
        try:
            url = _clean_url(text(data, "url", 2000))
        except UserError as exc:
            return self._import_page(request, 400, values=values, errors=form_errors(exc))
        assert auth.workspace is not None and auth.user is not None
        job_id = svc.knowledge.start_url_import(
            auth.workspace.id,
            auth.user.id,
            url,
            sitemap=bool(values["sitemap"]),
            limits=limits_of(request),
            allowlist=allowlist_of(request),
            status="published" if checked(data, "publish") else "draft",
        )
        audit(request, "knowledge.import_started", url)
        return redirect(request, f"/w/{slug}/knowledge/imports/{job_id}")

    @get("/imports/{job_id:int}", guards=[VIEW], sync_to_thread=True)
    def job(self, request: Req, slug: Slug, job_id: RowId) -> Response[Any]:
        job, results = imports.get_job(services_of(request).db, _ws(request), job_id)
        return page(request, "knowledge/job.html", nav="knowledge", job=job, results=results)

    @get("/imports/{job_id:int}/events", guards=[VIEW])
    async def job_events(self, request: Req, slug: Slug, job_id: RowId) -> ServerSentEvent:
        """Progress as Server-Sent Events until the job ends; the page works without it."""
        db, ws = services_of(request).db, _ws(request)
        await asyncio.to_thread(imports.get_job, db, ws, job_id)  # 404 before streaming

        async def events() -> AsyncIterator[str]:
            sent = -1
            while True:
                job, results = await asyncio.to_thread(imports.get_job, db, ws, job_id)
                if len(results) != sent or job.status != "running":
                    sent = len(results)
                    yield json.dumps(imports.job_state(job, results))
                if job.status != "running":
                    return
                await asyncio.sleep(PROGRESS_INTERVAL)

        return ServerSentEvent(events(), event_type="progress")


def read_uploads(data: dict[str, Any], max_file_bytes: int) -> list[tuple[str, bytes]]:
    """The files of a multipart "files" field as (name, bytes), read while the request
    lasts (its temporary files go away with it). One byte past the limit is enough for the
    parsers to report a file as too large."""
    field = data.get("files")
    uploads = [
        f
        for f in (field if isinstance(field, list) else [field])
        if isinstance(f, UploadFile) and f.filename
    ]
    if not uploads:
        raise UserError("Choose one or more files to import.", "files")
    if len(uploads) > MAX_UPLOAD_FILES:
        raise UserError(f"Import at most {MAX_UPLOAD_FILES} files at once (or zip them).", "files")
    return [(f.filename, f.file.read(max_file_bytes + 1)) for f in uploads]


def _clean_url(raw: str) -> str:
    from urllib.parse import urlsplit

    url = raw.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UserError("Enter an http:// or https:// address.", "url")
    return url
