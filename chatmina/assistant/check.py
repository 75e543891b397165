"""The "Test the model" button: one tiny question to the configured chat model.

It goes through the same client and error handling as visitors' answers, so a wrong URL,
key or model name shows the message an admin would otherwise only find in the log.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from chatmina.assistant.llm import ModelError
from chatmina.assistant.pipeline import Answerer
from chatmina.assistant.service import ChatModelConfig

PING = [{"role": "user", "content": "Reply with the single word: ready"}]
PING_MAX_TOKENS = 20


@dataclass(frozen=True)
class ModelCheck:
    ok: bool
    model: str
    server: str  # shown without credentials
    milliseconds: float
    reply: str = ""
    error: str = ""


async def check_model(answerer: Answerer, chat_model: ChatModelConfig) -> ModelCheck:
    model = answerer.model(chat_model)
    began = time.perf_counter()
    try:
        completion = await model.complete(PING, PING_MAX_TOKENS)
    except ModelError as error:
        return ModelCheck(False, chat_model.model, model.server, _ms(began), error=str(error))
    reply = completion.text.strip()[:500]
    return ModelCheck(True, chat_model.model, model.server, _ms(began), reply=reply)


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 1)
