"""Alembic migrations, append-only, run at start-up.

``HEAD`` names the newest revision so a started server whose database is current skips
importing Alembic at all (start-up time); a test checks that it matches Alembic's head.
"""

HEAD = "0008"
