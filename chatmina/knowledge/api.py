"""The knowledge part of the JSON API (/api/v1): articles, search and imports."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import msgspec
from litestar import Controller, Request, delete, get, patch, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, JSONBody, QueryParameter
from litestar.status_codes import HTTP_201_CREATED, HTTP_202_ACCEPTED, HTTP_204_NO_CONTENT

from chatmina.accounts.schemas import RowId
from chatmina.errors import UserError
from chatmina.knowledge import imports, service
from chatmina.knowledge.models import Article
from chatmina.knowledge.routes import read_uploads
from chatmina.knowledge.schemas import (
    ArticleIn,
    ArticleList,
    ArticleOut,
    ArticlePatch,
    ArticleSummary,
    ImportJobOut,
    ImportResultOut,
    SearchHit,
)
from chatmina.privacy import service as audit
from chatmina.ui.context import get_auth
from chatmina.ui.guards import api_key_required, api_workspace
from chatmina.ui.render import services_of

if TYPE_CHECKING:
    pass

Req = Request[Any, Any, Any]
Upload = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.MULTI_PART)]
API_UPLOAD_MAX_BYTES = 512 * 1024 * 1024


def _out(request: Req, article: Article, tags: list[str]) -> ArticleOut:
    chunks = service.chunk_count(services_of(request).db, article.id)
    return ArticleOut(
        article.id,
        article.title,
        article.body,
        article.source_url,
        tags,
        article.status,
        article.origin,
        chunks,
        article.created_at,
        article.updated_at,
    )


def _record(request: Req, action: str, detail: str) -> None:
    audit.record(
        services_of(request).db,
        action,
        workspace_id=api_workspace(request).id,
        detail=detail + " (API key)",
        ip=get_auth(request.scope).ip,
    )


class KnowledgeApi(Controller):
    path = "/api/v1"
    guards = [api_key_required]
    tags = ["Knowledge"]
    security = [{"apiKey": []}]

    @get("/articles", sync_to_thread=True, summary="List and search articles")
    def list_articles(
        self,
        request: Req,
        q: Annotated[
            str, QueryParameter(max_length=200, description="Words in the title or body")
        ] = "",
        status: Annotated[str | None, QueryParameter(pattern="^(draft|published)$")] = None,
        tag: Annotated[str | None, QueryParameter(max_length=50)] = None,
        page: Annotated[int, QueryParameter(ge=1, le=100_000)] = 1,
        per_page: Annotated[int, QueryParameter(ge=1, le=100)] = 25,
    ) -> ArticleList:
        listing = service.list_articles(
            services_of(request).db,
            api_workspace(request).id,
            q=q,
            status=status,
            tag=tag,
            page=page,
            per_page=per_page,
        )
        items = [
            ArticleSummary(
                a.id,
                a.title,
                a.source_url,
                listing.tags.get(a.id, []),
                a.status,
                listing.chunk_counts.get(a.id, 0),
                a.updated_at,
            )
            for a in listing.articles
        ]
        return ArticleList(items, listing.total, listing.page, listing.per_page)

    @post(
        "/articles", sync_to_thread=True, status_code=HTTP_201_CREATED, summary="Create an article"
    )
    def create_article(self, request: Req, data: JSONBody[ArticleIn]) -> ArticleOut:
        svc = services_of(request)
        given = service.ArticleInput(
            data.title, data.body, data.source_url, tuple(data.tags), data.status
        )
        article = service.create_article(svc.db, svc.vectors, api_workspace(request).id, given)
        _record(request, "article.created", article.title)
        return _out(request, article, list(service.clean_tags(given.tags)))

    @get("/articles/{article_id:int}", sync_to_thread=True, summary="Read an article")
    def get_article(self, request: Req, article_id: RowId) -> ArticleOut:
        article, tags = service.get_article(
            services_of(request).db, api_workspace(request).id, article_id
        )
        return _out(request, article, tags)

    @patch("/articles/{article_id:int}", sync_to_thread=True, summary="Change an article")
    def update_article(
        self, request: Req, article_id: RowId, data: JSONBody[ArticlePatch]
    ) -> ArticleOut:
        svc = services_of(request)
        ws = api_workspace(request).id
        current, tags = service.get_article(svc.db, ws, article_id)
        merged = service.ArticleInput(
            title=current.title if data.title is msgspec.UNSET else data.title,
            body=current.body if data.body is msgspec.UNSET else data.body,
            source_url=current.source_url if data.source_url is msgspec.UNSET else data.source_url,
            tags=tuple(tags if data.tags is msgspec.UNSET else data.tags),
            status=current.status if data.status is msgspec.UNSET else data.status,
        )
        article = service.update_article(svc.db, svc.vectors, ws, article_id, merged)
        _record(request, "article.updated", article.title)
        return _out(request, article, list(service.clean_tags(merged.tags)))

    @delete(
        "/articles/{article_id:int}",
        sync_to_thread=True,
        status_code=HTTP_204_NO_CONTENT,
        summary="Delete an article",
    )
    def delete_article(self, request: Req, article_id: RowId) -> None:
        article = service.delete_article(
            services_of(request).db, api_workspace(request).id, article_id
        )
        _record(request, "article.deleted", article.title)

    @get("/search", sync_to_thread=True, summary="Hybrid search over the knowledge base")
    def search(
        self,
        request: Req,
        q: Annotated[str, QueryParameter(min_length=1, max_length=2000)],
        limit: Annotated[int, QueryParameter(ge=1, le=50)] = 10,
        mode: Annotated[str, QueryParameter(pattern="^(hybrid|text|vector)$")] = "hybrid",
        status: Annotated[str, QueryParameter(pattern="^(draft|published|any)$")] = "published",
        tags: Annotated[
            str, QueryParameter(max_length=500, description="Comma-separated; all must match")
        ] = "",
    ) -> list[SearchHit]:
        svc = services_of(request)
        hits = service.search(
            svc.db,
            svc.vectors,
            api_workspace(request).id,
            q,
            limit=limit,
            mode=mode,
            status=None if status == "any" else status,
            tags=service.split_tags(tags),
        )
        return [SearchHit(**h.__dict__) for h in hits]

    @post(
        "/imports",
        sync_to_thread=True,
        status_code=HTTP_202_ACCEPTED,
        request_max_body_size=API_UPLOAD_MAX_BYTES,
        summary="Import files (multipart field 'files'); poll the job for results",
    )
    def start_import(self, request: Req, data: Upload) -> ImportJobOut:
        from chatmina.knowledge.parsers import ImportLimits

        svc = services_of(request)
        limits = ImportLimits(max_file_bytes=svc.settings.import_max_file_mb << 20)
        status = data.get("status", "published")
        if status not in service.STATUSES:
            raise UserError("status must be draft or published.", "status")
        files = read_uploads(data, limits.max_file_bytes)
        job_id = svc.knowledge.start_file_import(
            api_workspace(request).id, None, files, limits, status
        )
        _record(request, "knowledge.import_started", f"{len(files)} file(s)")
        return self._job(request, job_id)

    def _job(self, request: Req, job_id: int) -> ImportJobOut:
        job, results = imports.get_job(services_of(request).db, api_workspace(request).id, job_id)
        return ImportJobOut(
            job.id,
            job.status,
            max(job.total, job.done),
            job.done,
            job.imported,
            job.updated,
            job.skipped,
            job.failed,
            [ImportResultOut(r.name, r.outcome, r.reason, r.article_id) for r in results],
        )

    @get(
        "/imports/{job_id:int}",
        sync_to_thread=True,
        summary="An import's progress and per-file results",
    )
    def get_import(self, request: Req, job_id: RowId) -> ImportJobOut:
        return self._job(request, job_id)
