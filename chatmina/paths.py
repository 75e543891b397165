"""Where Chatmina's own files are: next to the package, or inside the one-file binary."""

from __future__ import annotations

import sys
from pathlib import Path

# PyInstaller unpacks data files under sys._MEIPASS; from a checkout web/ sits beside the package.
_ROOT = Path(getattr(sys, "_MEIPASS", Path(__file__).resolve().parent.parent))

WEB_DIR = _ROOT / "web"
TEMPLATES_DIR = WEB_DIR / "templates"
STATIC_DIR = WEB_DIR / "static"
