"""The instance's SMTP configuration (one row)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from chatmina.storage.db import Base, UTCDateTime


class SmtpConfig(Base):
    """SMTP relay settings; the password is AES-GCM encrypted (identity ``smtp:password``)."""

    __tablename__ = "smtp_config"

    id: Mapped[int] = mapped_column(primary_key=True)  # always 1
    host: Mapped[str] = mapped_column(String(253))
    port: Mapped[int]
    security: Mapped[str] = mapped_column(String(10))  # starttls | tls | none
    username: Mapped[str] = mapped_column(String(254), default="")
    password_encrypted: Mapped[str] = mapped_column(Text, default="")
    from_address: Mapped[str] = mapped_column(String(254))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
