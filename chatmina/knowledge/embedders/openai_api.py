"""Embeddings from OpenAI or any server speaking its ``/v1/embeddings`` API.

Ollama, llama.cpp, vLLM and LM Studio all do. They differ in what they accept, so the
request stays minimal: ``encoding_format="float"`` (not every server does base64) and
``dimensions`` only when the admin set one (many models reject it).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np

from chatmina.knowledge.embedders.base import EmbedderError, Vectors, normalise_rows

DEFAULT_BASE_URL = "https://api.openai.com/v1"
DEFAULT_MODEL = "text-embedding-3-small"
BATCH_SIZE = 128
TIMEOUT_SECONDS = 60.0
MAX_RETRIES = 2
# The client refuses to start without a key; servers without authentication ignore it.
_NO_KEY = "no-key"
_PROBE = "dimensions"
# OpenAI's own models and their sizes, so the default set-up needs no request to know them.
OPENAI_HOST = "api.openai.com"
OPENAI_NATIVE_DIMENSIONS = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}
_DETAIL_CHARS = 200


class OpenAIEmbedder:
    """Vectors from a remote model.

    ``requested_dimensions`` is what the admin asked for (0: the model's own size, and no
    ``dimensions`` parameter is sent). The spec depends on the configuration only, so it is
    known without asking the server; ``dimensions``, when neither requested nor one of
    OpenAI's own models, is learned from the first answer (reading it first asks once).
    """

    def __init__(
        self,
        *,
        base_url: str = DEFAULT_BASE_URL,
        api_key: str = "",
        model: str = DEFAULT_MODEL,
        requested_dimensions: int = 0,
        known_dimensions: int | None = None,
        timeout: float = TIMEOUT_SECONDS,
    ) -> None:
        self.base_url = base_url.strip().rstrip("/")
        try:
            self._shown_url = _without_credentials(self.base_url)
        except ValueError:
            self._shown_url = ""
        if not self._shown_url:
            raise EmbedderError("the embeddings base URL is not an http:// or https:// URL")
        if not model.strip():
            raise EmbedderError("no embeddings model is configured")
        if requested_dimensions < 0:
            raise EmbedderError("embedding dimensions cannot be negative")
        self.model = model.strip()
        self.requested_dimensions = requested_dimensions
        self.timeout = timeout
        self._api_key = api_key
        native = None
        if urlsplit(self.base_url).hostname == OPENAI_HOST:
            native = OPENAI_NATIVE_DIMENSIONS.get(self.model)
        size = requested_dimensions or native
        self._spec = f"openai:{self.model}/{size or 'native'}@{self._shown_url}"
        self._known = known_dimensions or size
        self._client: Any = None
        self._lock = threading.Lock()

    @property
    def dimensions(self) -> int:
        if self._known is None:
            self.embed([_PROBE])
        assert self._known is not None
        return self._known

    @property
    def spec(self) -> str:
        return self._spec

    def config(self) -> dict[str, Any]:
        return {
            "kind": "openai",
            "base_url": self.base_url,
            "api_key": self._api_key,
            "model": self.model,
            "dimensions": self.requested_dimensions,
            "known_dimensions": self._known,
            "timeout": self.timeout,
        }

    def embed(self, texts: Sequence[str]) -> Vectors:
        # Servers reject empty inputs; a blank text gets a zero row without asking.
        wanted = [i for i, text in enumerate(texts) if text.strip()]
        rows: list[np.ndarray] = []
        for start in range(0, len(wanted), BATCH_SIZE):
            batch = [texts[i] for i in wanted[start : start + BATCH_SIZE]]
            rows.append(self._embed_batch(batch))
        if not texts:
            return np.zeros((0, self._known or 0), dtype=np.float32)
        out = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        if rows:
            out[wanted] = normalise_rows(np.concatenate(rows))
        return out

    def _embed_batch(self, batch: list[str]) -> np.ndarray:
        response = self._request(batch)
        try:
            items = sorted(response.data, key=lambda item: item.index)
            matrix = np.array([item.embedding for item in items], dtype=np.float64)
        except (TypeError, ValueError, AttributeError):
            raise self._error("answered with something that is not a list of embeddings") from None
        if matrix.ndim != 2 or len(matrix) != len(batch):
            raise self._error(f"answered with {len(matrix)} embeddings for {len(batch)} texts")
        if not np.isfinite(matrix).all():
            raise self._error("answered with embeddings that are not finite numbers")
        self._check_dimensions(int(matrix.shape[1]))
        return matrix

    def _check_dimensions(self, got: int) -> None:
        if got == 0:
            raise self._error("answered with empty embeddings")
        with self._lock:
            if self._known is None:
                self._known = got
        if got == self._known:
            return
        if self.requested_dimensions:
            raise self._error(
                f"answered with {got}-dimensional embeddings, not the {self._known} requested: "
                "this model cannot shorten its vectors, set CHATMINA_EMBEDDINGS_DIMENSIONS=0"
            )
        raise self._error(
            f"answered with {got}-dimensional embeddings where {self._known} were expected: "
            f"the model behind the name {self.model!r} has changed"
        )

    def _request(self, batch: list[str]) -> Any:
        import openai  # heavy import, kept off start-up

        kwargs: dict[str, Any] = {"model": self.model, "input": batch, "encoding_format": "float"}
        if self.requested_dimensions > 0:
            kwargs["dimensions"] = self.requested_dimensions
        try:
            return self._openai_client().embeddings.create(**kwargs)
        except openai.AuthenticationError:
            raise self._error(
                "refused the API key (HTTP 401): check CHATMINA_EMBEDDINGS_API_KEY"
            ) from None
        except openai.PermissionDeniedError as exc:
            raise self._error(f"refused access (HTTP 403){self._detail(exc)}") from None
        except openai.NotFoundError as exc:
            raise self._error(
                f"does not serve the model {self.model!r} (HTTP 404){self._detail(exc)}"
            ) from None
        except openai.RateLimitError:
            raise self._error(
                f"is still limiting requests (HTTP 429) after {MAX_RETRIES} retries; "
                "try again later"
            ) from None
        except openai.APIStatusError as exc:
            raise self._error(f"answered HTTP {exc.status_code}{self._detail(exc)}") from None
        except openai.APITimeoutError:
            raise self._error(f"did not answer within {self.timeout:g} seconds") from None
        except openai.APIConnectionError as exc:
            reason = self._scrub(str(exc.__cause__ or exc))
            raise EmbedderError(
                f"cannot reach the embeddings server at {self._shown_url}: {reason}"
            ) from None
        except openai.OpenAIError as exc:
            raise self._error(f"failed: {self._scrub(str(exc))}") from None

    def _openai_client(self) -> Any:
        with self._lock:
            if self._client is None:
                import openai

                self._client = openai.OpenAI(
                    base_url=self.base_url,
                    api_key=self._api_key or _NO_KEY,
                    # A server that never accepts the connection should fail fast.
                    timeout=openai.Timeout(self.timeout, connect=min(self.timeout, 10.0)),
                    max_retries=MAX_RETRIES,
                )
            return self._client

    def _error(self, what: str) -> EmbedderError:
        return EmbedderError(f"the embeddings server at {self._shown_url} {what}")

    def _detail(self, exc: Any) -> str:
        """The server's own words about an error, trimmed and without the key."""
        body = exc.body
        message = body.get("message") if isinstance(body, dict) else None
        if not isinstance(message, str) or not message.strip():
            return ""
        text = self._scrub(message.strip())
        if len(text) > _DETAIL_CHARS:
            text = text[:_DETAIL_CHARS] + "…"
        return f": {text}"

    def _scrub(self, text: str) -> str:
        # Some servers quote the key they were sent back in their error messages.
        return text.replace(self._api_key, "***") if self._api_key else text


def _without_credentials(url: str) -> str:
    """The URL to show: no user, password or query; empty when it is not an http(s) URL."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https") or not host:
        return ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
