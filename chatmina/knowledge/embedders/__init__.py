"""Embedders: the builtin feature hasher, OpenAI-compatible servers, model2vec models.

``from_settings`` builds the configured one. ``config_of`` gives a plain dict, stored
(encrypted) with each embedding set, from which ``from_config`` rebuilds the same embedder
later, so an old vector space keeps answering searches while a new one is being built.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from chatmina.knowledge.embedders.base import Embedder, EmbedderError, normalise_rows

if TYPE_CHECKING:
    from chatmina.settings import Settings

__all__ = [
    "Embedder",
    "EmbedderError",
    "config_of",
    "from_config",
    "from_settings",
    "normalise_rows",
]

MODEL2VEC_PREFIX = "model2vec:"


def from_settings(settings: Settings) -> Embedder:
    """The embedder CHATMINA_EMBEDDINGS and its companion settings describe."""
    choice = str(settings.embeddings)
    if choice == "builtin":
        from chatmina.knowledge.embedders.builtin_spec import DeferredBuiltin

        return DeferredBuiltin()
    if choice == "openai":
        if not settings.embeddings_base_url:
            raise EmbedderError("CHATMINA_EMBEDDINGS_BASE_URL is empty")
        return from_config(
            {
                "kind": "openai",
                "base_url": settings.embeddings_base_url,
                "api_key": settings.embeddings_api_key,
                "model": settings.embeddings_model,
                "dimensions": settings.embeddings_dimensions,
            }
        )
    if choice.startswith(MODEL2VEC_PREFIX):
        return from_config({"kind": "model2vec", "path": choice[len(MODEL2VEC_PREFIX) :]})
    raise EmbedderError(f"CHATMINA_EMBEDDINGS={choice!r} is not an embedder Chatmina knows")


def from_config(config: dict[str, Any]) -> Embedder:
    """Rebuild an embedder from what :func:`config_of` returned."""
    kind = config.get("kind")
    if kind == "builtin":
        from chatmina.knowledge.embedders.builtin_spec import VERSION, DeferredBuiltin

        version = config.get("version", VERSION)
        if version != VERSION:
            # Its hashing changed: vectors of that version cannot be made any more.
            raise EmbedderError(f"stored vectors come from {version}; this Chatmina has {VERSION}")
        return DeferredBuiltin()
    if kind == "openai":
        from chatmina.knowledge.embedders.openai_api import (
            DEFAULT_BASE_URL,
            DEFAULT_MODEL,
            TIMEOUT_SECONDS,
            OpenAIEmbedder,
        )

        known = config.get("known_dimensions")
        return OpenAIEmbedder(
            base_url=_field(config, "base_url", str, DEFAULT_BASE_URL),
            api_key=_field(config, "api_key", str, ""),
            model=_field(config, "model", str, DEFAULT_MODEL),
            requested_dimensions=_field(config, "dimensions", int, 0),
            known_dimensions=_field(config, "known_dimensions", int, 0) if known else None,
            timeout=float(_field(config, "timeout", (int, float), TIMEOUT_SECONDS)),
        )
    if kind == "model2vec":
        from chatmina.knowledge.embedders.model2vec import Model2VecEmbedder

        path = _field(config, "path", str, "")
        if not path.strip():
            raise EmbedderError("no model2vec model directory is configured")
        return Model2VecEmbedder(Path(path.strip()))
    raise EmbedderError(f"unknown embedder kind {kind!r} in a stored configuration")


def config_of(embedder: Embedder) -> dict[str, Any]:
    """Everything :func:`from_config` needs to rebuild ``embedder``, secrets included."""
    config = getattr(embedder, "config", None)
    if config is None or not callable(config):
        raise TypeError(f"{type(embedder).__name__} cannot be described as a configuration")
    return dict(config())


def _field(config: dict[str, Any], name: str, kind: type | tuple[type, ...], default: Any) -> Any:
    value = config.get(name, default)
    if value is None:
        return default
    if not isinstance(value, kind) or isinstance(value, bool):
        raise EmbedderError(f"stored embedder configuration has an invalid {name!r}")
    return value
