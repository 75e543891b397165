"""The assistant's admin pages: settings (with the model check), the playground (as a
form and as a stream) and the knowledge gaps."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from sqlalchemy import func, select, text

from chatmina.assistant import service as assistant
from chatmina.assistant.tools import Tool, ToolOutcome
from chatmina.conversations import service as conversations
from chatmina.conversations.models import Conversation, Message
from chatmina.privacy.models import AuditEvent
from chatmina.ui.context import Services
from tests.accounts.helpers import assert_not_500, assert_problem, field_error, page_text
from tests.conftest import Personas
from tests.fakes.openai_server import CallTools, FakeOpenAI, Say

KEY = "sk-live-0123456789abcdef"
REFUND_QUESTION = "How many days do I have to request a refund?"
SETTINGS_FORM = {
    "assistant_name": "Mina",
    "tone": "concise",
    "instructions": "Mention our opening hours.",
    "knowledge_mode": "general",
    "relevance_threshold": "0.4",
    "max_sources": "3",
    "max_tool_calls": "2",
    "llm_base_url": "http://127.0.0.1:11434/v1",
    "llm_model": "llama3.2",
    "llm_api_key": KEY,
}


@pytest.fixture
def alice(client: Any, services: Services, personas: Personas, help_center: dict[str, int]) -> Any:
    # The models in these tests listen on this machine, which the operator allows.
    services.settings = services.settings.replace(allowed_private_hosts="127.0.0.1")
    client.login("alice@example.com")
    return client


def url(personas: Personas, path: str) -> str:
    return f"/w/{personas.a_slug}{path}"


def settings_row(services: Services, workspace_id: int) -> dict[str, Any] | None:
    with services.db.engine.connect() as conn:
        row = conn.execute(
            text("SELECT * FROM assistant_settings WHERE workspace_id = :w"), {"w": workspace_id}
        ).first()
    return dict(row._mapping) if row else None


def message_count(services: Services) -> int:
    with services.db.read() as s:
        return int(s.scalar(select(func.count()).select_from(Message)) or 0)


def audit_details(services: Services, action: str) -> list[str]:
    with services.db.read() as s:
        return list(s.scalars(select(AuditEvent.detail).where(AuditEvent.action == action)))


def events_of(body: str) -> list[tuple[str, dict[str, Any]]]:
    """Server-Sent Events as (name, JSON data), in order."""
    found = []
    for block in re.split(r"\r?\n\r?\n", body):
        name = re.search(r"^event: (.*)$", block, re.M)
        data = re.search(r"^data: (.*)$", block, re.M)
        if name and data:
            found.append((name.group(1).strip(), json.loads(data.group(1))))
    return found


def hidden_conversation_id(response: Any) -> int:
    found = re.search(r'name="conversation_id" value="(\d+)"', response.text)
    assert found, "no conversation id on the page"
    return int(found.group(1))


# -- settings ------------------------------------------------------------------------------


def test_the_settings_page_shows_the_defaults_and_that_there_is_no_model(
    alice: Any, personas: Personas
) -> None:
    page = alice.get(url(personas, "/assistant"))
    assert page.status_code == 200
    text_ = page_text(page)
    assert 'value="Assistant"' in page.text
    assert "No model: answers quote the knowledge base." in text_
    assert "Leave blank for no model" in text_
    assert "the question becomes a knowledge gap" in text_


def test_saving_settings_stores_them_and_the_key_only_encrypted_and_masked(
    alice: Any, services: Services, personas: Personas
) -> None:
    response = alice.submit(url(personas, "/assistant"), SETTINGS_FORM)
    assert response.status_code == 303
    config = assistant.load_config(services.db, services.keys, services.settings, personas.a_id)
    assert (config.tone, config.knowledge_mode, config.max_sources) == ("concise", "general", 3)
    assert config.relevance_threshold == 0.4 and config.chat_model is not None
    assert config.chat_model.api_key == KEY and config.chat_model.source == "workspace"
    row = settings_row(services, personas.a_id)
    assert row is not None and KEY not in row["llm_api_key_encrypted"]
    page = alice.get(url(personas, "/assistant"))
    assert KEY not in page.text and KEY[4:-2] not in page.text
    assert "sk-l…ef" in page_text(page)
    assert "This workspace uses its own model" in page_text(page)
    assert 'type="password"' in page.text
    [detail] = audit_details(services, "assistant.settings_changed")
    assert KEY not in detail and "API key replaced" in detail and "tone" in detail


def test_a_blank_key_keeps_the_stored_one_and_the_checkbox_removes_it(
    alice: Any, services: Services, personas: Personas
) -> None:
    alice.submit(url(personas, "/assistant"), SETTINGS_FORM)
    keep = alice.submit(url(personas, "/assistant"), {**SETTINGS_FORM, "llm_api_key": ""})
    assert keep.status_code == 303
    config = assistant.load_config(services.db, services.keys, services.settings, personas.a_id)
    assert config.chat_model is not None and config.chat_model.api_key == KEY
    form = {**SETTINGS_FORM, "llm_api_key": "", "clear_llm_api_key": "1"}
    assert alice.submit(url(personas, "/assistant"), form).status_code == 303
    config = assistant.load_config(services.db, services.keys, services.settings, personas.a_id)
    assert config.chat_model is not None and config.chat_model.api_key == ""
    assert config.own_key_masked == ""
    assert "API key removed" in audit_details(services, "assistant.settings_changed")[-1]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"assistant_name": " "}, "assistant_name"),
        ({"tone": "sarcastic"}, "tone"),
        ({"instructions": "x" * 4001}, "instructions"),
        ({"knowledge_mode": "anything"}, "knowledge_mode"),
        ({"relevance_threshold": "1.5"}, "relevance_threshold"),
        ({"relevance_threshold": "nan"}, "relevance_threshold"),
        ({"max_sources": "0"}, "max_sources"),
        ({"max_sources": "2.5"}, "max_sources"),
        ({"max_tool_calls": "11"}, "max_tool_calls"),
        ({"llm_base_url": "ftp://example.com"}, "llm_base_url"),
        ({"llm_base_url": "http://169.254.169.254/v1"}, "llm_base_url"),
        ({"llm_base_url": "http://10.1.2.3:8000/v1"}, "llm_base_url"),
        ({"llm_model": ""}, "llm_model"),
    ],
)
def test_bad_settings_are_refused_by_the_field_keeping_what_was_typed(
    alice: Any, services: Services, personas: Personas, changes: dict[str, str], field: str
) -> None:
    alice.submit(url(personas, "/assistant"), {**SETTINGS_FORM, "llm_api_key": ""})
    before = settings_row(services, personas.a_id)
    form = {**SETTINGS_FORM, "instructions": "Keep this text", **changes}
    response = assert_not_500(alice.submit(url(personas, "/assistant"), form))
    assert response.status_code == 400
    assert field_error(response, field)
    shown = page_text(response)
    if field != "instructions":
        assert "Keep this text" in shown
    assert 'value="llama3.2"' in response.text or field == "llm_model"
    assert KEY not in response.text
    assert settings_row(services, personas.a_id) == before


def test_testing_the_model_shows_its_reply_and_the_time_taken(
    alice: Any, model: FakeOpenAI, personas: Personas
) -> None:
    model.script(Say("ready"))
    response = alice.submit(url(personas, "/assistant/test"))
    assert response.status_code == 200
    shown = page_text(response)
    assert "The model gpt-4o-mini at http://127.0.0.1:" in shown and "answered in" in shown
    assert "Its reply: ready" in re.sub(r"<[^>]+>", "", shown)
    assert model.chat_requests[-1]["max_tokens"] == 20


def test_testing_a_wrong_model_shows_the_clear_error(
    alice: Any, model: FakeOpenAI, services: Services, personas: Personas
) -> None:
    assistant_form = {**SETTINGS_FORM, "llm_base_url": model.base_url, "llm_model": "nope"}
    alice.submit(url(personas, "/assistant"), {**assistant_form, "llm_api_key": "sk-acme"})
    shown = page_text(alice.submit(url(personas, "/assistant/test")))
    assert "The model test failed" in shown and "The model nope was not found" in shown
    without = alice.submit(url(personas, "/assistant"), {**assistant_form, "llm_model": "llama3.2"})
    assert without.status_code == 303


def test_testing_without_a_model_says_there_is_none(alice: Any, personas: Personas) -> None:
    shown = page_text(alice.submit(url(personas, "/assistant/test")))
    assert "There is no model to test" in shown


# -- who may -------------------------------------------------------------------------------

PAGES = ["/assistant", "/playground", "/knowledge/gaps"]
ACTIONS: list[tuple[str, dict[str, str]]] = [
    ("/assistant", SETTINGS_FORM),
    ("/assistant/test", {}),
    ("/playground", {"question": REFUND_QUESTION}),
    ("/playground/stream", {"question": REFUND_QUESTION}),
    ("/knowledge/gaps/dismiss", {"ids": "1"}),
]


def test_an_agent_may_not_use_the_assistant_pages(
    client: Any, services: Services, personas: Personas, help_center: dict[str, int]
) -> None:
    client.login("bob@example.com")
    for path in PAGES:
        assert assert_not_500(client.get(url(personas, path))).status_code == 403, path
    for path, form in ACTIONS:
        assert assert_not_500(client.submit(url(personas, path), form)).status_code == 403, path
    nav = client.get(url(personas, "/")).text
    assert "/playground" not in nav and "/assistant" not in nav
    assert settings_row(services, personas.a_id) is None and message_count(services) == 0


def test_another_workspaces_owner_gets_404_for_every_page_and_action(
    client: Any, services: Services, personas: Personas, help_center: dict[str, int]
) -> None:
    client.login("charlie@example.com")
    for path in PAGES:
        response = assert_not_500(client.get(url(personas, path)))
        assert response.status_code == 404 and "Refunds" not in response.text, path
    for path, form in ACTIONS:
        assert assert_not_500(client.submit(url(personas, path), form)).status_code == 404, path
    assert settings_row(services, personas.a_id) is None and message_count(services) == 0


def test_every_post_needs_the_csrf_token(
    alice: Any, services: Services, personas: Personas
) -> None:
    for path, form in ACTIONS:
        response = assert_not_500(alice.post(url(personas, path), data=form))
        assert response.status_code == 403, path
    assert settings_row(services, personas.a_id) is None and message_count(services) == 0


def test_the_owner_sees_playground_and_assistant_in_the_navigation(
    alice: Any, personas: Personas
) -> None:
    nav = alice.get(url(personas, "/")).text
    assert f'href="/w/{personas.a_slug}/playground"' in nav
    assert f'href="/w/{personas.a_slug}/assistant"' in nav


# -- playground ----------------------------------------------------------------------------


def test_without_a_model_the_playground_quotes_the_knowledge_with_a_citation_link(
    alice: Any, services: Services, personas: Personas
) -> None:
    response = alice.submit(url(personas, "/playground"), {"question": REFUND_QUESTION})
    assert response.status_code == 200
    shown = page_text(response)
    assert REFUND_QUESTION in shown and "within 30 days of purchase" in shown
    assert '<a href="https://help.acme.test/refunds" rel="noopener noreferrer">Refunds</a>' in (
        response.text
    )
    assert "Quoted from the knowledge base" in shown and "No prompt: without a model" in shown
    assert "Relevance" in shown and "BM25" in shown
    conversation_id = hidden_conversation_id(response)
    follow_up = alice.submit(
        url(personas, "/playground"),
        {"question": "How long does shipping take?", "conversation_id": str(conversation_id)},
    )
    assert hidden_conversation_id(follow_up) == conversation_id
    assert REFUND_QUESTION in page_text(follow_up)  # the earlier turn stays in the transcript
    roles = [m.role for m in conversations.messages(services.db, personas.a_id, conversation_id)]
    assert roles == ["visitor", "assistant", "visitor", "assistant"]
    reloaded = page_text(alice.get(url(personas, f"/playground?c={conversation_id}")))
    assert "How long does shipping take?" in reloaded and "within 30 days" in reloaded
    with services.db.read() as s:
        assert s.get(Conversation, conversation_id).channel == "playground"  # type: ignore[union-attr]


def test_with_the_model_the_playground_shows_answer_prompt_and_token_counts(
    alice: Any, model: FakeOpenAI, personas: Personas
) -> None:
    model.script(Say("Open **Billing** and press Request refund [1]."))
    response = alice.submit(url(personas, "/playground"), {"question": REFUND_QUESTION})
    assert response.status_code == 200
    shown = page_text(response)
    assert "<strong>Billing</strong>" in response.text  # the answer's Markdown, rendered
    assert "Answered by the model" in shown and "gpt-4o-mini" in shown
    assert "The prompt sent to the model (2 messages)" in shown
    assert "You are Mina, the customer-support assistant of Acme Support." in shown
    usage = re.search(r"(\d+) prompt · (\d+) completion", shown)
    assert usage and int(usage.group(1)) > 0 and int(usage.group(2)) > 0
    assert re.search(r"first token \d+ ms · total \d+ ms", shown)


def test_the_stream_sends_started_sources_tokens_and_finished_in_order(
    alice: Any, model: FakeOpenAI, personas: Personas
) -> None:
    answer = "Open Billing, choose the order and press Request refund [1]."
    model.script(Say(answer))
    response = alice.submit(url(personas, "/playground/stream"), {"question": REFUND_QUESTION})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = events_of(response.text)
    names = [name for name, _ in events]
    # Tokens that arrive together may travel in one event: only their order and sum count.
    assert names[:2] == ["started", "sources"] and names[-1] == "finished"
    assert set(names[2:-1]) == {"token"}
    started, sources, finished = events[0][1], events[1][1], events[-1][1]
    assert started["conversation_id"] > 0 and started["question_id"] > 0
    best = sources["sources"][0]
    assert best["title"] == "Refunds"
    assert {"relevance", "score", "bm25", "similarity", "text", "url"} <= best.keys()
    assert "".join(data["text"] for name, data in events if name == "token") == answer
    assert finished["content"] == answer and finished["outcome"] == "answered"
    assert [c["url"] for c in finished["citations"]] == ["https://help.acme.test/refunds"]
    assert finished["prompt"][0]["role"] == "system" and finished["usage"]["prompt_tokens"] > 0
    assert {"prepare_ms", "search_ms", "first_token_ms", "total_ms"} <= finished["timings"].keys()


class OrderStatus:
    """A dispatcher with one function that always finds the order shipped."""

    tool = Tool(
        name="order_status",
        description="Where an order is",
        parameters={"type": "object", "properties": {"order_id": {"type": "string"}}},
    )

    async def tools(self, workspace_id: int, *, verified: bool) -> list[Tool]:
        return [self.tool]

    async def call(self, tool: Tool, arguments: dict[str, Any], context: Any) -> ToolOutcome:
        return ToolOutcome(True, '{"status": "shipped"}', "shipped")


def test_function_calls_are_shown_with_their_arguments_and_result(
    alice: Any, model: FakeOpenAI, services: Services, personas: Personas
) -> None:
    services.answerer.dispatcher = OrderStatus()
    turns = [CallTools([("order_status", {"order_id": "12345"})]), Say("It has shipped.")]
    model.script(*turns)
    form = {"question": "Where is order 12345?"}
    events = events_of(alice.submit(url(personas, "/playground/stream"), form).text)
    tools = [data for name, data in events if name == "tool"]
    assert [(t["name"], t["state"]) for t in tools] == [
        ("order_status", "running"),
        ("order_status", "done"),
    ]
    assert tools[-1]["detail"] == "shipped"
    model.script(*turns)
    shown = page_text(alice.submit(url(personas, "/playground"), form))
    assert "Function calls" in shown and "order_status" in shown
    assert '<pre class="chunk" aria-label="Arguments">{"order_id": "12345"}</pre>' in shown
    assert '<pre class="chunk" aria-label="Result">{"status": "shipped"}</pre>' in shown


def test_the_stream_continues_the_conversation_it_started(
    alice: Any, services: Services, personas: Personas
) -> None:
    first = events_of(
        alice.submit(url(personas, "/playground/stream"), {"question": REFUND_QUESTION}).text
    )
    conversation_id = first[0][1]["conversation_id"]
    second = events_of(
        alice.submit(
            url(personas, "/playground/stream"),
            {"question": "And shipping?", "conversation_id": str(conversation_id)},
        ).text
    )
    assert second[0][1]["conversation_id"] == conversation_id
    assert len(conversations.messages(services.db, personas.a_id, conversation_id)) == 4


def other_conversations(services: Services, personas: Personas) -> dict[str, int]:
    """B's playground conversation, and a visitor conversation of A's own widget."""
    b, _ = conversations.add_question(services.db, personas.b_id, None, "playground", "B's")
    widget, _ = conversations.add_question(services.db, personas.a_id, None, "widget", "Hi")
    return {"another workspace's": b, "a visitor's": widget}


@pytest.mark.parametrize(
    ("form", "status", "message"),
    [
        ({"question": "   "}, 400, "Type a question."),
        ({"question": "x" * 4001}, 400, "limited to 4,000 characters"),
        ({"question": "Hi", "conversation_id": "12abc"}, 400, "start a new conversation"),
    ],
)
def test_bad_questions_are_a_problem_before_the_stream_and_store_nothing(
    alice: Any,
    services: Services,
    personas: Personas,
    form: dict[str, str],
    status: int,
    message: str,
) -> None:
    stream = assert_problem(alice.submit(url(personas, "/playground/stream"), form), status)
    assert message in stream["detail"]
    page = assert_not_500(alice.submit(url(personas, "/playground"), form))
    assert page.status_code == status and message in page_text(page)
    if "question" in stream.get("errors", [{}])[0].get("field", ""):
        assert field_error(page, "question")
    assert message_count(services) == 0


def test_a_conversation_that_is_not_this_playgrounds_is_not_found(
    alice: Any, services: Services, personas: Personas
) -> None:
    for what, conversation_id in other_conversations(services, personas).items():
        before = message_count(services)
        form = {"question": REFUND_QUESTION, "conversation_id": str(conversation_id)}
        assert_problem(alice.submit(url(personas, "/playground/stream"), form), 404)
        assert alice.submit(url(personas, "/playground"), form).status_code == 404, what
        assert alice.get(url(personas, f"/playground?c={conversation_id}")).status_code == 404
        assert message_count(services) == before, what


def test_questions_and_answers_are_shown_as_text_never_as_markup(
    alice: Any, personas: Personas
) -> None:
    question = "<script>alert(1)</script> refund?"
    response = alice.submit(url(personas, "/playground"), {"question": question})
    assert "<script>alert(1)" not in response.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; refund?" in response.text


# -- knowledge gaps ------------------------------------------------------------------------


def test_unanswered_questions_are_listed_grouped_and_can_be_dismissed(
    alice: Any, services: Services, personas: Personas
) -> None:
    for question in ["What is the capital of Mongolia?", "what is the capital of mongolia"]:
        alice.submit(url(personas, "/playground"), {"question": question})
    page = alice.get(url(personas, "/knowledge/gaps"))
    row = re.search(r"<tr>\s*<td>what is the capital of mongolia</td>.*?</tr>", page.text, re.S)
    assert row, page.text
    assert '<td class="num">2</td>' in row.group(0)
    assert "/knowledge/search?q=what%20is%20the%20capital%20of%20mongolia" in row.group(0)
    # "Write an article" opens the editor with the question as its title.
    new = "/knowledge/new?title=what%20is%20the%20capital%20of%20mongolia"
    assert new in row.group(0)
    editor = alice.get(url(personas, new))
    assert 'value="what is the capital of mongolia"' in editor.text
    ids = re.search(r'name="ids" value="([\d,]+)"', row.group(0))
    assert ids and len(ids.group(1).split(",")) == 2
    dismissed = alice.submit(url(personas, "/knowledge/gaps/dismiss"), {"ids": ids.group(1)})
    assert dismissed.status_code == 303
    assert assistant.gap_count(services.db, personas.a_id) == 0
    assert "No knowledge gaps" in page_text(alice.get(url(personas, "/knowledge/gaps")))
    assert audit_details(services, "knowledge.gap_dismissed") == ["2 question(s)"]


def test_dismissing_gaps_of_another_workspace_or_nonsense_ids_changes_nothing(
    client: Any, services: Services, personas: Personas
) -> None:
    assistant.record_gap(services.db, personas.a_id, None, "Opening hours?", 0.1)
    [gap] = assistant.list_gaps(services.db, personas.a_id)
    client.login("charlie@example.com")
    b = f"/w/{personas.b_slug}/knowledge/gaps/dismiss"
    assert client.submit(b, {"ids": str(gap.gap_ids[0])}).status_code == 404
    for bad in ["", "one", "1;2", "²", "9" * 30]:
        assert assert_not_500(client.submit(b, {"ids": bad})).status_code == 400, bad
    assert assistant.gap_count(services.db, personas.a_id) == 1


def test_a_model_on_a_private_address_needs_the_operators_permission(
    alice: Any, services: Services, personas: Personas
) -> None:
    services.settings = services.settings.replace(allowed_private_hosts="")
    form = {**SETTINGS_FORM, "llm_base_url": "http://127.0.0.1:11434/v1"}
    response = alice.submit(url(personas, "/assistant"), form)
    assert response.status_code == 400
    shown = page_text(response)
    assert "127.0.0.1 is" in shown and "CHATMINA_ALLOWED_PRIVATE_HOSTS" in shown
    assert settings_row(services, personas.a_id) is None
    # Cloud metadata is never reachable, whatever the operator allows.
    services.settings = services.settings.replace(allowed_private_hosts="169.254.169.254")
    form = {**SETTINGS_FORM, "llm_base_url": "http://169.254.169.254/v1"}
    response = alice.submit(url(personas, "/assistant"), form)
    assert response.status_code == 400
    assert "CHATMINA_ALLOWED_PRIVATE_HOSTS" not in page_text(response)
