"""The tool-calling loop: schemas to the model, arguments checked before dispatch, results
back to the model, and a limit on calls per answer."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import select

from chatmina.assistant.events import Finished, ToolStatus
from chatmina.assistant.pipeline import Question
from chatmina.assistant.tools import CallContext, Tool, ToolOutcome
from chatmina.conversations.models import Message
from chatmina.ui.context import Services
from tests.assistant.conftest import configure_model
from tests.conftest import Personas
from tests.fakes.openai_server import CallTools, FakeOpenAI, Say

ORDER_STATUS = Tool(
    name="order_status",
    description="Where an order is",
    parameters={
        "type": "object",
        "properties": {"order_id": {"type": "string", "pattern": "^[0-9]{4,}$"}},
        "required": ["order_id"],
        "additionalProperties": False,
    },
)


@dataclass
class Recorder:
    """A dispatcher that records what it was asked to run."""

    tools_offered: list[Tool] = field(default_factory=lambda: [ORDER_STATUS])
    calls: list[tuple[str, dict[str, Any], CallContext]] = field(default_factory=list)

    async def tools(self, workspace_id: int, *, verified: bool) -> list[Tool]:
        return self.tools_offered

    async def call(
        self, tool: Tool, arguments: dict[str, Any], context: CallContext
    ) -> ToolOutcome:
        self.calls.append((tool.name, arguments, context))
        return ToolOutcome(True, json.dumps({"status": "shipped"}), "shipped")


@pytest.fixture
def dispatcher(services: Services) -> Recorder:
    recorder = Recorder()
    services.answerer.dispatcher = recorder
    return recorder


async def answer(services: Services, personas: Personas, text: str) -> list[Any]:
    run = await services.answerer.start(Question(personas.a_id, "Acme Support", text, "api"))
    return [event async for event in run.events()]


@pytest.mark.anyio
async def test_a_tool_call_is_dispatched_and_its_result_goes_back_to_the_model(
    services: Services, personas: Personas, model: FakeOpenAI, dispatcher: Recorder
) -> None:
    model.script(CallTools([("order_status", {"order_id": "12345"})]), Say("It has shipped."))
    events = await answer(services, personas, "Where is my order 12345?")

    first, second = model.chat_requests
    assert first["tools"] == [ORDER_STATUS.as_openai()]
    assert [(name, args) for name, args, _ in dispatcher.calls] == [
        ("order_status", {"order_id": "12345"})
    ]
    assert dispatcher.calls[0][2].workspace_id == personas.a_id
    call_message, result = second["messages"][-2:]
    assert call_message["tool_calls"][0]["function"]["name"] == "order_status"
    assert result == {
        "role": "tool",
        "tool_call_id": call_message["tool_calls"][0]["id"],
        "content": '{"status": "shipped"}',
    }
    states = [(e.name, e.state) for e in events if isinstance(e, ToolStatus)]
    assert states == [("order_status", "running"), ("order_status", "done")]
    finished = events[-1]
    assert isinstance(finished, Finished) and finished.content == "It has shipped."
    with services.db.read() as s:
        stored = s.scalars(select(Message).where(Message.role == "assistant")).one()
    assert stored.tool_calls is not None and stored.tool_calls[0]["ok"] is True
    assert json.loads(stored.tool_calls[0]["arguments"]) == {"order_id": "12345"}


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("arguments", "complaint"),
    [
        ({"order_id": "12"}, "does not match"),
        ({"order": "12345"}, "'order_id' is a required property"),
        ("{not json", "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
    ],
)
async def test_arguments_that_do_not_match_the_schema_are_never_dispatched(
    services: Services,
    personas: Personas,
    model: FakeOpenAI,
    dispatcher: Recorder,
    arguments: Any,
    complaint: str,
) -> None:
    model.script(CallTools([("order_status", arguments)]), Say("Which order number?"))
    events = await answer(services, personas, "Where is my order?")
    assert dispatcher.calls == []
    told = model.chat_requests[1]["messages"][-1]
    assert (
        told["role"] == "tool"
        and complaint in told["content"]
        and "Nothing was run" in told["content"]
    )
    assert ("order_status", "failed") in [
        (e.name, e.state) for e in events if isinstance(e, ToolStatus)
    ]
    assert isinstance(events[-1], Finished) and events[-1].content == "Which order number?"


@pytest.mark.anyio
async def test_an_unknown_function_is_reported_to_the_model(
    services: Services, personas: Personas, model: FakeOpenAI, dispatcher: Recorder
) -> None:
    model.script(CallTools([("delete_everything", {})]), Say("I cannot do that."))
    await answer(services, personas, "Delete my account and order 12345")
    assert dispatcher.calls == []
    assert (
        "no function named delete_everything" in model.chat_requests[1]["messages"][-1]["content"]
    )


@pytest.mark.anyio
async def test_the_call_limit_stops_a_model_that_keeps_calling(
    services: Services, personas: Personas, model: FakeOpenAI, dispatcher: Recorder
) -> None:
    configure_model(
        services,
        personas.a_id,
        model,
        max_tool_calls="2",
    )
    loop = CallTools(
        [("order_status", {"order_id": "12345"}), ("order_status", {"order_id": "12346"})]
    )
    model.script(loop, loop, Say("Done looking."))
    events = await answer(services, personas, "Where are my orders 12345 and 12346?")
    assert len(dispatcher.calls) == 2
    # Once the limit is reached the model is told so, and may not call any more.
    assert model.chat_requests[1]["tool_choice"] == "none"
    assert len(model.chat_requests) == 2
    assert isinstance(events[-1], Finished)


@pytest.mark.anyio
async def test_over_the_limit_calls_are_answered_without_running(
    services: Services, personas: Personas, model: FakeOpenAI, dispatcher: Recorder
) -> None:
    configure_model(
        services,
        personas.a_id,
        model,
        max_tool_calls="1",
    )
    model.script(
        CallTools(
            [("order_status", {"order_id": "12345"}), ("order_status", {"order_id": "12346"})]
        ),
        Say("One of them has shipped."),
    )
    await answer(services, personas, "Where are my orders 12345 and 12346?")
    assert len(dispatcher.calls) == 1
    replies = [m for m in model.chat_requests[1]["messages"] if m["role"] == "tool"]
    assert len(replies) == 2 and "limit of function calls" in replies[1]["content"]


@pytest.mark.anyio
async def test_without_functions_no_tools_are_offered(
    services: Services, personas: Personas, model: FakeOpenAI
) -> None:
    await answer(services, personas, "How do I request a refund?")
    assert "tools" not in model.chat_requests[0]
