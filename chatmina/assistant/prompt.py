"""The messages sent to the model: instructions, numbered sources, history, the question."""

from __future__ import annotations

import re
from typing import Any

from chatmina.assistant.events import Source
from chatmina.assistant.service import TONES, AssistantConfig
from chatmina.conversations.service import Turn

# Roughly 4 characters a token: ~10k tokens of prompt leaves room for the answer on
# 16k-context models; a smaller context is handled by trimming on the server's error.
MAX_PROMPT_CHARS = 40_000
MAX_TURN_CHARS = 4_000
_CITATION = re.compile(r"\[(\d{1,2})\]")

_KNOWLEDGE_ONLY = (
    "Answer only from the numbered sources below. If they do not contain the answer, say "
    "plainly that you do not know and offer to connect the visitor with a person. Never make "
    "up facts, links, prices or policies."
)
_GENERAL = (
    "Prefer the numbered sources below. When they do not cover the question you may answer "
    "from general knowledge, saying that you do; never make up facts about {company}: its "
    "products, prices or policies."
)
_NO_SOURCES = (
    "No passage of the knowledge base matches this question. Unless one of your functions "
    "answers it, say plainly that you do not know and offer to connect the visitor with a "
    "person."
)


def system_prompt(
    config: AssistantConfig, company: str, sources: list[Source], has_tools: bool
) -> str:
    lines = [
        f"You are {config.assistant_name}, the customer-support assistant of {company}.",
        f"Tone: {TONES.get(config.tone, TONES['friendly'])}",
        "Answer in the language the visitor writes in. Use Markdown sparingly.",
    ]
    if config.knowledge_mode == "general":
        lines.append(_GENERAL.format(company=company))
    elif sources:
        lines.append(_KNOWLEDGE_ONLY)
    else:
        lines.append(_NO_SOURCES)
    if sources:
        lines.append(
            "Cite the sources you use by their numbers in square brackets, like [1] or [2][3], "
            "right after the sentence they support."
        )
    if has_tools:
        lines.append(
            "When one of your functions can do what the visitor asks, call it; tell the "
            "visitor what it returned. Ask for missing details instead of guessing them."
        )
    lines.append("The visitor can ask for a person at any time; offer one when you cannot help.")
    if config.instructions:
        lines += ["", "Instructions from " + company + ":", config.instructions]
    if sources:
        lines += ["", "Sources:"]
        for source in sources:
            where = f"{source.title} > {source.heading}" if source.heading else source.title
            lines += ["", f"[{source.n}] {where}", source.text]
    return "\n".join(lines)


def _turn(turn: Turn) -> dict[str, Any]:
    return {"role": turn.role, "content": turn.content[:MAX_TURN_CHARS]}


def build_messages(
    config: AssistantConfig,
    company: str,
    question: str,
    history: list[Turn],
    sources: list[Source],
    has_tools: bool,
) -> list[dict[str, Any]]:
    """The prompt, with the oldest history dropped first when it is too long."""
    system = {"role": "system", "content": system_prompt(config, company, sources, has_tools)}
    asked = {"role": "user", "content": question}
    budget = MAX_PROMPT_CHARS - len(system["content"]) - len(question)
    kept: list[dict[str, Any]] = []
    for turn in reversed(history):
        message = _turn(turn)
        budget -= len(message["content"])
        if budget < 0:
            break
        kept.append(message)
    return [system, *reversed(kept), asked]


def rewrite_messages(question: str, history: list[Turn]) -> list[dict[str, Any]]:
    """Ask for the follow-up question as a standalone search query."""
    shown = []
    for turn in history[-6:]:
        who = "Visitor" if turn.role == "user" else "Assistant"
        shown.append(f"{who}: {turn.content[:1000]}")
    return [
        {
            "role": "system",
            "content": (
                "Rewrite the visitor's last message as one standalone search query for a "
                "help center, using the conversation for context (names, products, what "
                "'it' refers to). Reply with the query only, in the visitor's language."
            ),
        },
        {
            "role": "user",
            "content": "Conversation:\n" + "\n".join(shown) + f"\n\nLast message: {question}",
        },
    ]


def cited_numbers(answer: str) -> list[int]:
    """The source numbers an answer cites, in order of first mention."""
    return list(dict.fromkeys(int(n) for n in _CITATION.findall(answer)))
