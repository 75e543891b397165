"""A visitor's question answered by the fake model, streamed over the real /events route
of a Chatmina listening on a real port; reconnecting replays without duplicates."""

from __future__ import annotations

import contextlib
import time
import uuid

import httpx

from chatmina.conversations import routing
from chatmina.ui.context import Services
from chatmina.webhooks import service as webhooks
from tests.conftest import Personas
from tests.conversations.conftest import Sites, api
from tests.conversations.sse import ServerEvent, events, read_until
from tests.fakes.openai_server import CallTools, FakeOpenAI, Say
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.functions.conftest import make_function

ANSWER = "Open Billing, choose the order and press Request refund [1]. It takes five days [1]."


def _visitor(http: httpx.Client, public_id: str) -> dict[str, str]:
    response = http.post(api(public_id, "/visitors"), json={"locale": "en"})
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['visitor_token']}"}


def test_a_question_is_answered_token_by_token_then_stored_with_its_citations(
    live: str, sites: Sites, model: FakeOpenAI
) -> None:
    model.tokens_per_second = 15  # slower than the 50 ms batching: one delta per word
    model.script(Say(ANSWER))
    with httpx.Client(base_url=live, timeout=10) as http:
        auth = _visitor(http, sites.a)
        with http.stream("GET", api(sites.a, "/events"), headers=auth) as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            received = events(stream)
            first = next(received)
            assert (first.name, first.data) == ("conversation", None)
            body = {"content": "How do I get a refund?", "client_id": str(uuid.uuid4())}
            posted = http.post(api(sites.a, "/messages"), json=body, headers=auth)
            assert posted.status_code == 202, posted.text
            question_id = posted.json()["message"]["id"]
            seen = read_until(
                received, lambda e: e.name == "message" and e.data["role"] == "assistant"
            )
    names = [e.name for e in seen]
    # The first message started a conversation: its state, then the question, live.
    assert names[:2] == ["conversation", "message"]
    assert seen[0].data["state"] == "bot" and seen[1].data["id"] == question_id
    deltas = [e.data["text"] for e in seen if e.name == "answer.delta"]
    assert len(deltas) > 3, "the answer should arrive in pieces"
    assert "".join(deltas) == ANSWER
    assert names.index("answer.delta") < names.index("message", 2)
    answer = seen[-1].data
    assert answer["content"] == ANSWER and seen[-1].id == str(answer["id"])
    assert [(s["n"], s["title"]) for s in answer["sources"]] == [(1, "Refunds")]
    assert answer["sources"][0]["url"] == "https://help.acme.test/refunds"
    typing = [e.data for e in seen if e.name == "typing"]
    assert {"who": "assistant", "name": "", "active": True} in typing


def test_reconnecting_with_last_event_id_replays_only_what_was_missed(
    live: str, sites: Sites, model: FakeOpenAI
) -> None:
    with httpx.Client(base_url=live, timeout=10) as http:
        auth = _visitor(http, sites.a)
        ids = []
        for text in ("How do I get a refund?", "How long does shipping take?"):
            body = {"content": text, "client_id": str(uuid.uuid4())}
            response = http.post(api(sites.a, "/messages"), json=body, headers=auth)
            assert response.status_code == 202
            ids.append(response.json()["message"]["id"])
        with http.stream("GET", api(sites.a, "/events"), headers=auth) as stream:
            answers: list[int] = []

            def both_answered(e: ServerEvent) -> bool:
                if e.name == "message" and e.data["role"] == "assistant":
                    answers.append(e.data["id"])
                return len(answers) == 2

            everything = read_until(events(stream), both_answered)
        stored = [e.data["id"] for e in everything if e.name == "message"]
        assert len(stored) == len(set(stored)) == 4  # two questions, two answers
        # Reconnect after the second message: the replay holds exactly the later ones.
        headers = {**auth, "Last-Event-ID": str(stored[1])}
        with http.stream("GET", api(sites.a, "/events"), headers=headers) as stream:
            received = events(stream)
            state = next(received)
            assert state.name == "conversation" and state.data["state"] == "bot"
            replay = [next(received) for _ in range(2)]
        assert [e.data["id"] for e in replay] == stored[2:]
        # ?after= works the same (EventSource cannot send headers on its first connect).
        with http.stream(
            "GET", api(sites.a, "/events"), params={"after": stored[2]}, headers=auth
        ) as stream:
            received = events(stream)
            next(received)
            assert next(received).data["id"] == stored[3]


def test_a_visitor_may_hold_only_a_few_streams_open(live: str, sites: Sites) -> None:
    with httpx.Client(base_url=live, timeout=10) as http:
        auth = _visitor(http, sites.a)
        url = api(sites.a, "/events")
        readers = []  # a reader dropped by the garbage collector closes its connection
        with contextlib.ExitStack() as open_streams:
            for _ in range(5):
                stream = open_streams.enter_context(http.stream("GET", url, headers=auth))
                assert stream.status_code == 200
                readers.append(events(stream))
                next(readers[-1])  # connected and subscribed
            refused = http.get(url, headers=auth)
            assert refused.status_code == 429 and "retry-after" in refused.headers
            other = _visitor(http, sites.a)  # another visitor is not affected
            with http.stream("GET", url, headers=other) as stream:
                assert stream.status_code == 200
        # Closed streams are forgotten: the visitor can connect again.
        deadline = time.monotonic() + 5
        while True:
            with http.stream("GET", url, headers=auth) as stream:
                if stream.status_code == 200:
                    break
            assert time.monotonic() < deadline, "closed streams were not released"
            time.sleep(0.05)


def test_the_visitor_sees_that_an_action_runs_while_a_function_is_called(
    live: str, sites: Sites, model: FakeOpenAI, services: Services, personas: Personas
) -> None:
    with WebhookReceiver() as receiver:
        receiver.behave(body=b'{"status": "shipped"}')
        webhooks.save_private_hosts(services.db, personas.a_id, receiver.address)
        _, secret = make_function(services, personas.a_id, receiver.url())
        receiver.secrets = [secret]
        model.script(CallTools([("order_status", {"order_id": "12345"})]), Say("It has shipped."))
        with httpx.Client(base_url=live, timeout=10) as http:
            auth = _visitor(http, sites.a)
            with http.stream("GET", api(sites.a, "/events"), headers=auth) as stream:
                received = events(stream)
                next(received)
                body = {"content": "Where is order 12345?", "client_id": str(uuid.uuid4())}
                assert http.post(api(sites.a, "/messages"), json=body, headers=auth).is_success
                seen = read_until(
                    received, lambda e: e.name == "message" and e.data["role"] == "assistant"
                )
        assert receiver.arrivals and receiver.arrivals[0].verified
    statuses = [e.data["text"] for e in seen if e.name == "answer.status"]
    assert statuses == ["Order status…"]
    assert seen[-1].data["content"] == "It has shipped."


def test_an_agent_taking_over_stops_the_answer_being_written_and_keeps_what_was_shown(
    live: str, sites: Sites, model: FakeOpenAI, services: Services, personas: Personas
) -> None:
    model.tokens_per_second = 10  # long enough to take over mid-answer
    model.script(Say(" ".join(["Refunds take five days to arrive."] * 12)))
    with httpx.Client(base_url=live, timeout=10) as http:
        auth = _visitor(http, sites.a)
        with http.stream("GET", api(sites.a, "/events"), headers=auth) as stream:
            received = events(stream)
            next(received)
            body = {"content": "How do I get a refund?", "client_id": str(uuid.uuid4())}
            cid = http.post(api(sites.a, "/messages"), json=body, headers=auth).json()[
                "conversation"
            ]["id"]
            shown = read_until(received, lambda e: e.name == "answer.delta")
            changed = routing.assign(services.db, personas.a_id, cid, personas.alice_id)
            services.live.conversation_changed(personas.a_id, changed)
            rest = read_until(
                received, lambda e: e.name == "message" and e.data["role"] == "assistant"
            )
            # The new state and the stopped answer travel separately, in either order.
            if not any(e.name == "conversation" and e.data["state"] == "assigned" for e in rest):
                rest += read_until(received, lambda e: e.name == "conversation")
    assert model.wait_for_disconnect(5), "the model's stream is closed"
    seen = shown + rest
    [kept] = [e.data for e in rest if e.name == "message" and e.data["role"] == "assistant"]
    written = "".join(e.data["text"] for e in seen if e.name == "answer.delta")
    assert kept["outcome"] == "cancelled" and kept["content"] == written
    assert 0 < len(written) < len("Refunds take five days to arrive.") * 12
    states = [e.data["state"] for e in seen if e.name == "conversation"]
    assert states[-1] == "assigned"
    assert services.live.answers.running == 0
