"""``chatmina kb``: the knowledge base from the command line."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import click

SUPPORTED = (".md", ".markdown", ".txt", ".html", ".htm", ".pdf", ".docx", ".csv", ".json", ".zip")


@click.group("kb")
def kb() -> None:
    """The knowledge base: import and search articles."""


def _files(paths: tuple[str, ...]) -> list[tuple[str, Path | None]]:
    """(name, path) for every file to import; URLs come back with path None."""
    found: list[tuple[str, Path | None]] = []
    for raw in paths:
        if raw.startswith(("http://", "https://")):
            found.append((raw, None))
            continue
        path = Path(raw)
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                if (
                    child.is_file()
                    and child.suffix.lower() in SUPPORTED
                    and not any(part.startswith(".") for part in child.relative_to(path).parts)
                ):
                    found.append((str(child.relative_to(path.parent)), child))
        elif path.is_file():
            found.append((path.name, path))
        else:
            raise click.BadParameter(f"{raw}: no such file or directory", param_hint="PATH")
    return found


@kb.command("import")
@click.option("--workspace", required=True, help="Workspace slug.")
@click.option("--draft", is_flag=True, help="Import new articles as drafts.")
@click.option("--sitemap", is_flag=True, help="The URLs given are sitemaps: import every page.")
@click.argument("paths", nargs=-1, required=True)
@click.pass_context
def import_(
    ctx: click.Context, workspace: str, draft: bool, sitemap: bool, paths: tuple[str, ...]
) -> None:
    """Import files, directories, URLs or sitemaps into a workspace.

    Importing the same content again changes nothing; changed content replaces its
    article. Exits 1 when any file failed (the others are imported).
    """
    from chatmina.accounts import service as accounts
    from chatmina.cli import _services, _settings, friendly_errors
    from chatmina.knowledge import imports
    from chatmina.knowledge.fetch import fetch_sitemap, fetch_url
    from chatmina.knowledge.parsers import ImportLimits, Source, extract
    from chatmina.net import Allowlist

    @friendly_errors
    def run() -> int:
        files = _files(paths)
        settings = _settings(ctx)
        services = _services(settings)
        try:
            found = accounts.workspace_by_slug(services.db, workspace)
            limits = ImportLimits(max_file_bytes=settings.import_max_file_mb << 20)
            allowlist = Allowlist.parse(settings.allowed_private_hosts)
            label = files[0][0] if len(files) == 1 else f"{len(files)} files (command line)"
            job_id = imports.start_job(services.db, found.id, None, label, len(files))
            with click.progressbar(length=len(files), label="Importing", file=sys.stderr) as bar:

                def sources() -> Iterator[Source]:
                    for name, path in files:
                        if path is None:
                            if sitemap:
                                yield from fetch_sitemap(name, allowlist=allowlist, limits=limits)
                            else:
                                yield from fetch_url(name, allowlist=allowlist, limits=limits)
                        else:
                            yield from extract(name, _read(path, limits.max_file_bytes), limits)
                        bar.update(1)

                outcomes = imports.import_sources(
                    services.db,
                    services.vectors,
                    found.id,
                    sources(),
                    status="draft" if draft else "published",
                    job_id=job_id,
                )
            imports.finish_job(services.db, job_id)
        finally:
            services.db.close()
        counts = {
            k: sum(o.outcome == k for o in outcomes)
            for k in ("imported", "updated", "skipped", "failed")
        }
        for o in outcomes:
            if o.outcome == "failed":
                click.echo(f"failed: {o.name}: {o.reason}", err=True)
        click.echo(", ".join(f"{n} {k}" for k, n in counts.items()))
        return 1 if counts["failed"] else 0

    sys.exit(run())


def _read(path: Path, limit: int) -> bytes:
    # One byte past the limit is enough for the parser to report "too large".
    with path.open("rb") as f:
        return f.read(limit + 1)
