"""The chat model, through the official ``openai`` async client.

One client per configuration and event loop, so connections are reused across answers.
Retries are Chatmina's own, not the client's: a visitor is waiting, so a Retry-After
longer than :data:`MAX_WAIT_SECONDS` fails at once (the visitor is offered a person)
instead of keeping them in front of a spinner, and nothing is retried once a token has
been shown. Every failure becomes a :class:`ModelError` whose message names the server,
never the key.
"""

from __future__ import annotations

import asyncio
import email.utils
import time
import weakref
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import anyio

from chatmina.assistant.service import ChatModelConfig
from chatmina.assistant.sse import Batches, EventReader, StreamError, ToolCallDelta
from chatmina.errors import Unavailable

MAX_RETRIES = 2
RELAY_INTERVAL_SECONDS = 0.05  # tokens after the first travel in batches this far apart
MAX_WAIT_SECONDS = 10.0
# A server that does not even accept the connection is reported after this, not after the
# whole timeout (a visitor is waiting).
CONNECT_TIMEOUT_SECONDS = 10.0
BACKOFF_SECONDS = (0.25, 1.0)
# The client refuses to start without a key; servers without authentication ignore it.
_NO_KEY = "no-key"
_RETRIED_STATUSES = {408, 409, 429, 500, 502, 503, 504}


class ModelError(Unavailable):
    """The chat model failed. ``kind``: timeout, rate_limited, server, unreachable,
    context_length, refused (key or model), bad_request or bad_stream."""

    def __init__(self, kind: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.retry_after = retry_after


@dataclass
class ToolCallRequest:
    id: str
    name: str
    arguments: str


@dataclass
class Completion:
    """The end of one model response: what it asked for and what it cost."""

    text: str
    tool_calls: list[ToolCallRequest] = field(default_factory=list)
    finish_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0


def shown_url(base_url: str) -> str:
    """The server as it may appear in messages and logs: scheme, host, port, path."""
    parts = urlsplit(base_url)
    host = parts.hostname or "?"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def retry_after_seconds(headers: Any) -> float | None:
    """Seconds to wait from Retry-After (seconds or an HTTP date) or retry-after-ms."""
    if headers is None:
        return None
    milliseconds = headers.get("retry-after-ms")
    if milliseconds:
        try:
            return max(0.0, float(milliseconds) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _is_context_length(error: Any) -> bool:
    code = getattr(error, "code", None)
    text = str(getattr(error, "message", "") or error).lower()
    return code == "context_length_exceeded" or any(
        phrase in text
        for phrase in (
            "context length",  # OpenAI, vLLM: "maximum context length is ..."
            "context_length",
            "maximum context",
            "context size",  # llama.cpp: "... exceeds the available context size"
            "context window",
            "too many tokens",
        )
    )


class ChatModel:
    """One configured model. :meth:`stream` yields text pieces, then one Completion."""

    def __init__(self, config: ChatModelConfig, clients: ClientPool) -> None:
        self.config = config
        self.server = shown_url(config.base_url)
        self._clients = clients

    async def stream(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None = None,
        *,
        tool_choice: str | None = None,
        max_tokens: int | None = None,
    ) -> AsyncGenerator[str | Completion, None]:
        """Text as it arrives (the first token at once, then batches; see sse.Batches), then
        one Completion."""
        response = await self._open(messages, tools, tool_choice, max_tokens)
        reader = EventReader()
        text: list[str] = []
        calls: dict[int, ToolCallRequest] = {}
        completion = Completion("")
        batches = Batches(response.aiter_raw(), RELAY_INTERVAL_SECONDS)
        relay = batches.relay()
        try:
            async for data in relay:
                pieces = []
                for chunk in reader.feed(data):
                    if chunk.usage is not None:
                        completion.prompt_tokens = chunk.usage.prompt_tokens or 0
                        completion.completion_tokens = chunk.usage.completion_tokens or 0
                    for choice in chunk.choices:
                        delta = choice.delta
                        if delta is not None and delta.content:
                            pieces.append(delta.content)
                        for call in (delta.tool_calls or []) if delta is not None else []:
                            _merge_call(calls, call)
                        if choice.finish_reason:
                            completion.finish_reason = choice.finish_reason
                if pieces:
                    piece = "".join(pieces)
                    text.append(piece)
                    batches.shown()
                    yield piece
        except StreamError as error:
            raise ModelError(
                "bad_stream", f"The answer from {self.server} broke off: {error}"
            ) from None
        except Exception as error:
            if _is_transport_error(error):
                raise self._stream_error(error) from None
            raise
        finally:
            # Also when the visitor left (cancellation): the upstream request must end now.
            with anyio.CancelScope(shield=True):
                await relay.aclose()
                await response.aclose()
        if not reader.done and completion.finish_reason is None:
            raise ModelError("bad_stream", f"The answer from {self.server} broke off (no end).")
        completion.text = "".join(text)
        completion.tool_calls = [calls[i] for i in sorted(calls)]
        yield completion

    async def complete(self, messages: list[dict[str, Any]], max_tokens: int) -> Completion:
        """A whole short answer (follow-up rewriting), through the same stream path."""
        async for item in self.stream(messages, max_tokens=max_tokens):
            if isinstance(item, Completion):
                return item
        raise ModelError("bad_stream", f"The model at {self.server} sent no answer.")

    async def _open(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None,
        tool_choice: str | None,
        max_tokens: int | None,
    ) -> Any:
        import openai

        client = self._clients.client(self.config)
        extra: dict[str, Any] = {}
        if tools:
            extra["tools"] = tools
            if tool_choice:
                extra["tool_choice"] = tool_choice
        if max_tokens:
            extra["max_tokens"] = max_tokens
        attempt = 0
        while True:
            try:
                raw = await client.chat.completions.with_raw_response.create(
                    model=self.config.model,
                    messages=messages,
                    stream=True,
                    stream_options={"include_usage": True},
                    **extra,
                )
                return raw.http_response  # not read yet: stream() reads it
            except openai.APIStatusError as error:
                failure = self._status_error(error)
            except openai.APITimeoutError as error:
                if type(error.__cause__).__name__ == "ConnectTimeout":
                    failure = ModelError(
                        "timeout",
                        f"The model at {self.server} did not accept a connection within "
                        f"{min(CONNECT_TIMEOUT_SECONDS, self.config.timeout):g} seconds.",
                    )
                else:
                    failure = self._timeout()
            except openai.APIConnectionError:
                failure = ModelError("unreachable", f"The model at {self.server} is unreachable.")
            # A timeout already cost the visitor the whole wait: it is not tried again.
            retryable = failure.kind in ("unreachable", "rate_limited", "server")
            wait = failure.retry_after
            if wait is None:
                wait = BACKOFF_SECONDS[min(attempt, len(BACKOFF_SECONDS) - 1)]
            if not retryable or attempt >= MAX_RETRIES or wait > MAX_WAIT_SECONDS:
                raise failure
            attempt += 1
            await asyncio.sleep(wait)

    def _timeout(self) -> ModelError:
        return ModelError(
            "timeout",
            f"The model at {self.server} did not answer within {self.config.timeout:g} seconds.",
        )

    def _status_error(self, error: Any) -> ModelError:
        status = error.status_code
        detail = _error_detail(error)
        retry_after = retry_after_seconds(getattr(error.response, "headers", None))
        if status == 429:
            return ModelError(
                "rate_limited",
                f"The model at {self.server} is busy (429 Too Many Requests).",
                retry_after,
            )
        if status in _RETRIED_STATUSES:
            return ModelError(
                "server", f"The model at {self.server} failed ({status}): {detail}", retry_after
            )
        if _is_context_length(error):
            return ModelError("context_length", f"The question and sources are too long: {detail}")
        if status in (401, 403):
            return ModelError("refused", f"The model at {self.server} refused the API key.")
        if status == 404:
            return ModelError(
                "refused", f"The model {self.config.model} was not found at {self.server}."
            )
        return ModelError("bad_request", f"The model at {self.server} refused ({status}): {detail}")

    def _stream_error(self, error: BaseException) -> ModelError:
        if isinstance(error, TimeoutError) or "Timeout" in type(error).__name__:
            return self._timeout()
        if _is_context_length(error):
            return ModelError("context_length", f"The question and sources are too long: {error}")
        return ModelError(
            "bad_stream", f"The answer from {self.server} broke off ({type(error).__name__})."
        )


def _error_detail(error: Any) -> str:
    body = getattr(error, "body", None)
    if isinstance(body, dict):
        message = body.get("message") or body.get("error")
        if isinstance(message, dict):
            message = message.get("message")
        if isinstance(message, str):
            return message[:300]
    return str(getattr(error, "message", error))[:300]


def _is_transport_error(error: BaseException) -> bool:
    """A network failure while reading the body (the client's HTTP library raises its own
    exception types, which it does not re-export)."""
    return isinstance(error, OSError | TimeoutError) or type(error).__module__.startswith(
        ("httpx", "httpcore")
    )


def _merge_call(calls: dict[int, ToolCallRequest], delta: ToolCallDelta) -> None:
    """Tool calls arrive in pieces: the first names the call, later ones add arguments."""
    index = delta.index if delta.index is not None else len(calls)
    call = calls.setdefault(index, ToolCallRequest(id="", name="", arguments=""))
    if delta.id:
        call.id = delta.id
    function = delta.function
    if function is not None:
        if function.name:
            call.name += function.name
        if function.arguments:
            call.arguments += function.arguments
    if not call.id:
        call.id = f"call_{index}"


class ClientPool:
    """``AsyncOpenAI`` clients by configuration, per event loop (a client's connections
    belong to the loop that opened them). :meth:`close` ends the current loop's."""

    def __init__(self) -> None:
        self._by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Any, Any]]
        self._by_loop = weakref.WeakKeyDictionary()

    def client(self, config: ChatModelConfig) -> Any:
        import openai

        clients = self._by_loop.setdefault(asyncio.get_running_loop(), {})
        key = (config.base_url, config.api_key, config.timeout)
        found = clients.get(key)
        if found is None:
            timeout = openai.Timeout(
                config.timeout, connect=min(CONNECT_TIMEOUT_SECONDS, config.timeout)
            )
            found = openai.AsyncOpenAI(
                base_url=config.base_url,
                api_key=config.api_key or _NO_KEY,
                timeout=timeout,
                max_retries=0,
                # The client's own default wrapper closes itself from __del__ on whatever
                # loop is running then, which breaks when that is not the loop it used.
                http_client=openai.DefaultAsyncHttpxClient(timeout=timeout),
            )
            clients[key] = found
        return found

    async def close(self) -> None:
        clients = self._by_loop.pop(asyncio.get_running_loop(), {})
        for client in clients.values():
            await client.close()
