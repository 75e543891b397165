"""The knowledge-base quality collection: Git's own documentation, from the Debian package git-doc.

No one on this project wrote it, and it reads like a help center: how-to pages, a FAQ,
tutorials and one reference page per command, in HTML. The collection is every page under
``/usr/share/doc/git-doc/`` matching ``GLOBS``, less the pages in ``NOT_ARTICLES``.
A page's file name relative to the docs root (``git-reset.html``, ``howto/maintain-git.html``)
names it in the labelled questions.

``python -m tests.perf.kb_quality.corpus`` installs the package when it is missing (``make
bench`` runs it first) and prints nothing on success.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

PACKAGE = "git-doc"
DOCS_ROOT = Path("/usr/share/doc/git-doc")
GLOBS = ("*.html", "howto/*.html")

# Pages that are not help articles. Keeping them would add pages no question can fairly
# point at, or duplicates of another page that make a label ambiguous.
NOT_ARTICLES = frozenset(
    {
        # indexes of other pages
        "index.html",
        "howto-index.html",
        # "this document has been moved" and "this list has been retired" notices
        "everyday.html",
        "git-remote-helpers.html",
        "git-tools.html",
        # synonyms whose whole text is "see git-add / git-fsck / git-init"
        "git-stage.html",
        "git-fsck-objects.html",
        "git-init-db.html",
        # helpers other Git programs call, never a person
        "git-credential-cache--daemon.html",
        "git-mergetool--lib.html",
        "git-sh-i18n--envsubst.html",
        "git-web--browse.html",
    }
)

INSTALL_HINT = f"the knowledge-base benchmark needs Git's documentation: apt-get install {PACKAGE}"

# One page every version of the package ships, to tell "installed" from a bare directory
# (Docker images often keep /usr/share/doc/<pkg>/copyright only).
_PROBE = DOCS_ROOT / "git-reset.html"


def installed() -> bool:
    return _PROBE.is_file()


def _apt_get(*args: str) -> bool:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    done = subprocess.run(["apt-get", *args], env=env, capture_output=True, check=False)
    return done.returncode == 0


def ensure_installed() -> None:
    """Install the package when its pages are missing; exit with a one-line hint when we can't."""
    if installed():
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise SystemExit(INSTALL_HINT)
    install = ("install", "-y", "-qq", PACKAGE)
    # A fresh machine often has no package lists yet: refresh them only when needed.
    if not _apt_get(*install) and not (_apt_get("update", "-qq") and _apt_get(*install)):
        raise SystemExit(f"apt-get could not install {PACKAGE}; {INSTALL_HINT}")
    if not installed():
        raise SystemExit(
            f"{PACKAGE} is installed but {DOCS_ROOT} has no pages: "
            "dpkg may exclude /usr/share/doc (see /etc/dpkg/dpkg.cfg.d/)"
        )


def document_names() -> list[str]:
    """The collection's file names relative to the docs root, sorted."""
    if not installed():
        raise SystemExit(INSTALL_HINT)
    names = {
        path.relative_to(DOCS_ROOT).as_posix()
        for pattern in GLOBS
        for path in DOCS_ROOT.glob(pattern)
    }
    return sorted(names - NOT_ARTICLES)


def documents() -> list[tuple[str, bytes]]:
    """(file name relative to the docs root, raw bytes) for every page, sorted by name."""
    return [(name, (DOCS_ROOT / name).read_bytes()) for name in document_names()]


if __name__ == "__main__":
    ensure_installed()
    sys.exit(0)
