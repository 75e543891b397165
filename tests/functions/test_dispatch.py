"""Functions called during answers: through the fake model, to a real local receiver that
verifies every signature with the standardwebhooks library."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from chatmina import clock
from chatmina.accounts.models import Workspace
from chatmina.assistant.events import Finished, ToolStatus
from chatmina.assistant.pipeline import Question
from chatmina.assistant.tools import CallContext, Tool
from chatmina.functions import service
from chatmina.ui.context import Services
from tests.conftest import Personas
from tests.fakes.openai_server import CallTools, FakeOpenAI, Say
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.functions.conftest import ORDER_SCHEMA, counts, logged_calls, make_function


async def answer(services: Services, personas: Personas, text: str, **kw: Any) -> list[Any]:
    question = Question(personas.a_id, "Acme Support", text, "api", **kw)
    run = await services.answerer.start(question)
    return [event async for event in run.events()]


def states(events: list[Any]) -> list[tuple[str, str]]:
    return [(e.name, e.state) for e in events if isinstance(e, ToolStatus)]


@pytest.fixture
def order_status(
    services: Services, personas: Personas, receiver: WebhookReceiver
) -> service.FunctionView:
    view, secret = make_function(services, personas.a_id, receiver.url())
    receiver.secrets = [secret]
    return view


@pytest.mark.anyio
async def test_an_answer_calls_the_function_with_a_signed_request_and_uses_its_result(
    services: Services,
    personas: Personas,
    model: FakeOpenAI,
    receiver: WebhookReceiver,
    order_status: service.FunctionView,
) -> None:
    model.script(CallTools([("order_status", {"order_id": "12345"})]), Say("It ships tomorrow."))
    events = await answer(services, personas, "Where is my order 12345?")

    assert model.chat_requests[0]["tools"][0]["function"]["name"] == "order_status"
    (arrival,) = receiver.arrivals
    assert arrival.verified and arrival.status == 200 and receiver.rejected == []
    assert arrival.headers["x-api-key"] == "shop-key-123456"
    envelope = json.loads(arrival.body)
    started = events[0]
    assert envelope["type"] == "function.call"
    data = envelope["data"]
    assert data["function"] == "order_status" and data["arguments"] == {"order_id": "12345"}
    assert data["conversation_id"] == started.conversation_id
    assert data["visitor"] == {"verified": False}
    with services.db.read() as s:
        workspace = s.get(Workspace, personas.a_id)
        assert workspace is not None and data["workspace_id"] == workspace.public_id
    # The receiver's answer went to the model as the tool's result.
    told = model.chat_requests[1]["messages"][-1]
    assert told["role"] == "tool" and json.loads(told["content"])["eta"] == "tomorrow"
    assert states(events) == [("order_status", "running"), ("order_status", "done")]
    assert isinstance(events[-1], Finished) and events[-1].content == "It ships tomorrow."

    (logged,) = logged_calls(services)
    assert logged.ok and logged.status_code == 200 and logged.attempt == 1
    assert logged.message_id == arrival.msg_id and not logged.is_test
    assert logged.conversation_id == started.conversation_id
    assert logged.call_id == data["call_id"] and logged.latency_ms > 0
    # Arguments and response are encrypted at rest.
    assert "12345" not in logged.arguments_encrypted and "tomorrow" not in logged.response_encrypted


@pytest.mark.anyio
@pytest.mark.parametrize(
    "arguments", [{"order_id": "12"}, {"order": "12345"}, "{not json", {"order_id": 12345}]
)
async def test_arguments_that_do_not_match_the_schema_are_never_sent(
    services: Services,
    personas: Personas,
    model: FakeOpenAI,
    receiver: WebhookReceiver,
    order_status: service.FunctionView,
    arguments: Any,
) -> None:
    model.script(CallTools([("order_status", arguments)]), Say("Which order number?"))
    events = await answer(services, personas, "Where is my order?")
    assert receiver.arrivals == []
    told = model.chat_requests[1]["messages"][-1]["content"]
    assert "Nothing was run" in told
    assert states(events)[-1] == ("order_status", "failed")
    # The call log shows what the model tried, as never sent (attempt 0).
    (logged,) = logged_calls(services)
    assert logged.attempt == 0 and not logged.ok and logged.status_code is None
    assert logged.error.startswith("not sent: the arguments")
    assert logged.conversation_id == events[0].conversation_id


FAILURES = [
    # (receiver behaviour, function changes, what the model and the log are told)
    ("500", {"fail": 500}, {}, "answered 500"),
    ("timeout", {"delay": 1.6}, {"timeout_seconds": 1}, "timed out after 1 s"),
    ("huge", {"body": b'{"x": "' + b"a" * 70_000 + b'"}'}, {}, "larger than 64 KB"),
    ("not json", {"body": b"<html>Thanks!</html>", "content_type": "text/html"}, {},
     "the response is not JSON"),
    ("redirect loop", {"redirect": True}, {}, "redirects are not followed"),
]  # fmt: skip


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("behaviour", "changes", "error"),
    [pytest.param(b, c, e, id=name) for name, b, c, e in FAILURES],
)
async def test_a_failing_endpoint_gives_the_model_and_the_log_a_clear_error(
    services: Services,
    personas: Personas,
    model: FakeOpenAI,
    receiver: WebhookReceiver,
    behaviour: dict[str, Any],
    changes: dict[str, Any],
    error: str,
) -> None:
    _, secret = make_function(services, personas.a_id, receiver.url(), **changes)
    receiver.secrets = [secret]
    if "fail" in behaviour:
        receiver.fail(behaviour["fail"])
    elif behaviour.get("redirect"):
        receiver.behave(redirect_to=receiver.url())  # to itself: a loop if followed
    else:
        receiver.behave(**behaviour)
    model.script(
        CallTools([("order_status", {"order_id": "12345"})]), Say("Sorry, I cannot check.")
    )
    events = await answer(services, personas, "Where is my order 12345?")

    told = model.chat_requests[1]["messages"][-1]["content"]
    assert told.startswith("Error: order_status") and error in told, told
    failed = [e for e in events if isinstance(e, ToolStatus) and e.state == "failed"]
    assert failed and error in failed[0].detail
    assert isinstance(events[-1], Finished) and events[-1].content == "Sorry, I cannot check."
    assert receiver.wait_for_arrivals(1, timeout=5)  # a slow receiver records it late
    assert len(receiver.arrivals) == 1  # one request, no redirect followed, no retry
    (logged,) = logged_calls(services)
    assert not logged.ok and error in logged.error and logged.attempt == 1


@pytest.mark.anyio
async def test_a_refused_connection_is_retried_once_with_the_same_webhook_id(
    services: Services, personas: Personas, receiver: WebhookReceiver
) -> None:
    view, secret = make_function(services, personas.a_id, receiver.url())
    receiver.secrets = [secret]
    receiver.down()
    tool = Tool(view.name, view.description, view.parameters)
    outcome = await services.answerer.dispatcher.call(
        tool, {"order_id": "12345"}, CallContext(personas.a_id, None, "call_1", False)
    )
    assert not outcome.ok and "refused the connection" in outcome.content
    first, second = logged_calls(services)
    assert (first.attempt, second.attempt) == (1, 2)
    assert first.message_id == second.message_id and first.status_code is None


@pytest.mark.anyio
async def test_only_verified_functions_are_offered_to_verified_visitors_only(
    services: Services,
    personas: Personas,
    model: FakeOpenAI,
    receiver: WebhookReceiver,
    order_status: service.FunctionView,
) -> None:
    _, secret = make_function(
        services, personas.a_id, receiver.url(), name="cancel_order", only_verified=True
    )
    dispatcher = services.answerer.dispatcher
    assert [t.name for t in await dispatcher.tools(personas.a_id, verified=False)] == [
        "order_status"
    ]
    offered = await dispatcher.tools(personas.a_id, verified=True)
    assert [t.name for t in offered] == ["cancel_order", "order_status"]

    # Even if a model names it anyway, an unverified visitor's call is refused unsent.
    model.script(CallTools([("cancel_order", {"order_id": "12345"})]), Say("I cannot."))
    await answer(services, personas, "Cancel order 12345")
    assert [t["function"]["name"] for t in model.chat_requests[0]["tools"]] == ["order_status"]
    outcome = await dispatcher.call(
        offered[0], {"order_id": "12345"}, CallContext(personas.a_id, None, "call_2", False)
    )
    assert not outcome.ok and "only for visitors whose identity was verified" in outcome.content
    assert receiver.arrivals == []

    model.script(CallTools([("cancel_order", {"order_id": "12345"})]), Say("Cancelled."))
    receiver.secrets = [secret]
    await answer(services, personas, "Cancel order 12345", verified=True)
    (arrival,) = receiver.arrivals
    assert json.loads(arrival.body)["data"]["visitor"] == {"verified": True}


@pytest.mark.anyio
async def test_changes_reach_the_dispatcher_at_once_and_disabled_functions_are_not_offered(
    services: Services, personas: Personas, order_status: service.FunctionView
) -> None:
    dispatcher = services.answerer.dispatcher
    assert len(await dispatcher.tools(personas.a_id, verified=False)) == 1
    service.set_enabled(services.db, services.keys, personas.a_id, order_status.id, False)
    assert await dispatcher.tools(personas.a_id, verified=False) == []
    outcome = await dispatcher.call(
        Tool("order_status", "", ORDER_SCHEMA),
        {"order_id": "12345"},
        CallContext(personas.a_id, None, "call_3", False),
    )
    assert not outcome.ok and "not available" in outcome.content
    service.set_enabled(services.db, services.keys, personas.a_id, order_status.id, True)
    assert len(await dispatcher.tools(personas.a_id, verified=False)) == 1
    # Workspace B has none of A's functions.
    assert await dispatcher.tools(personas.b_id, verified=True) == []
    assert counts(services) == (1, 0)


@pytest.mark.anyio
async def test_after_a_rotation_both_secrets_verify_for_24_hours_then_only_the_new_one(
    services: Services, personas: Personas, receiver: WebhookReceiver
) -> None:
    view, old = make_function(services, personas.a_id, receiver.url())
    _, new = service.rotate_secret(services.db, services.keys, personas.a_id, view.id)
    tool = Tool(view.name, view.description, view.parameters)
    dispatcher = services.answerer.dispatcher

    async def verified_with(secret: str) -> bool:
        receiver.secrets = [secret]
        before = len(receiver.arrivals)
        await dispatcher.call(
            tool, {"order_id": "12345"}, CallContext(personas.a_id, None, "call_r", False)
        )
        return receiver.arrivals[before].verified

    assert await verified_with(old) and await verified_with(new)
    clock.travel(dt.timedelta(hours=23, minutes=59))
    assert await verified_with(old) and await verified_with(new)
    clock.travel(dt.timedelta(minutes=2))
    assert await verified_with(new)
    assert not await verified_with(old)
    assert "answered 401" in logged_calls(services)[-1].error
