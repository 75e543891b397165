"""Chatmina: self-hosted AI customer-support chat in one encrypted file."""

__version__ = "0.1.0"
