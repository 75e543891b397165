"""The public widget API, route by route, with every input a visitor can get wrong."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest

from chatmina import clock
from chatmina.accounts import service as accounts
from chatmina.accounts.models import Workspace
from chatmina.conversations import visitors, widget_settings
from chatmina.ui.context import Services
from tests.conftest import Personas
from tests.conversations.conftest import (
    Sites,
    answered,
    api,
    bearer,
    new_visitor,
    say,
    stored,
    wait_for,
)

SETTINGS_FORM = {
    "title": "Acme help",
    "subtitle": "",
    "primary_color": "#112233",
    "text_on_primary": "#ffffff",
    "position": "left",
    "avatar_url": "",
    "greeting": "Hello!",
    "suggestions": "Refunds?\nShipping?",
    "launcher_label": "Help",
    "default_locale": "en",
    "strings": "de.send = Los",
    "allowed_origins": "https://shop.example.com",
    "identity_verification": "off",
    "handoff_enabled": "on",
    "notify_by_email": "on",
}


def configure_widget(services: Services, workspace_id: int, **changes: str) -> Any:
    config = widget_settings.save(
        services.db, services.keys, workspace_id, {**SETTINGS_FORM, **changes}
    )
    services.live.forget_site_all()
    return config


def kind(response: Any) -> str:
    assert response.headers["content-type"].startswith("application/problem+json")
    return str(response.json()["type"]).split("#problem-")[1]


# -- config ------------------------------------------------------------------------------


def test_config_has_the_defaults_and_english_strings(client: Any, sites: Sites) -> None:
    body = client.get(api(sites.a, "/config")).json()
    assert body["public_id"] == sites.a and body["name"] == "Acme Support"
    assert body["appearance"]["position"] == "right" and body["identity"] == "off"
    assert body["strings"]["send"] == "Send" and body["locale"] == "en"
    assert body["handoff_enabled"] is True


def test_config_speaks_the_visitors_language_with_the_workspaces_overrides(
    client: Any, services: Services, personas: Personas, sites: Sites
) -> None:
    configure_widget(services, personas.a_id)
    body = client.get(api(sites.a, "/config"), params={"locale": "de-AT"}).json()
    assert body["locale"] == "de"
    assert body["strings"]["send"] == "Los"  # the workspace's override
    assert body["strings"]["close"] == "Chat schließen"  # the shipped translation
    assert body["appearance"]["title"] == "Acme help"
    assert body["suggestions"] == ["Refunds?", "Shipping?"]
    unknown = client.get(api(sites.a, "/config"), params={"locale": "xx"}).json()
    assert unknown["locale"] == "en" and unknown["strings"]["send"] == "Send"


def test_an_unknown_widget_is_a_404_problem(client: Any, personas: Personas) -> None:
    response = client.get(api("wk_nope", "/config"))
    assert response.status_code == 404 and kind(response) == "not-found"


# -- visitors and tokens -------------------------------------------------------------------


def test_a_visitor_token_opens_that_visitors_conversation_only(client: Any, sites: Sites) -> None:
    alice_side = new_visitor(client, sites.a)
    other = new_visitor(client, sites.a)
    assert say(client, sites.a, alice_side, "Mine").status_code == 202
    mine = client.get(api(sites.a, "/conversation"), headers=bearer(alice_side)).json()
    theirs = client.get(api(sites.a, "/conversation"), headers=bearer(other)).json()
    assert mine["messages"][0]["content"] == "Mine"
    assert theirs == {"conversation": None, "messages": []}


@pytest.mark.parametrize(
    "token",
    [
        "",
        "not-a-token",
        "vt1.1.v_abc.1700000000.forged-signature",
    ],
)
def test_missing_or_forged_tokens_are_refused(client: Any, sites: Sites, token: str) -> None:
    headers = bearer(token) if token else {}
    response = client.get(api(sites.a, "/conversation"), headers=headers)
    assert response.status_code == 401 and kind(response) == "visitor-token-invalid"


def test_a_token_with_a_changed_visitor_or_another_workspaces_token_is_refused(
    client: Any, services: Services, personas: Personas, sites: Sites
) -> None:
    token = new_visitor(client, sites.a)
    prefix, ws, _visitor, issued, signature = token.split(".")
    tampered = ".".join([prefix, ws, "v_someone_else", issued, signature])
    response = client.get(api(sites.a, "/conversation"), headers=bearer(tampered))
    assert response.status_code == 401 and kind(response) == "visitor-token-invalid"
    # A's genuine token, used on B's widget.
    response = client.post(
        api(sites.b, "/messages"),
        json={"content": "hi", "client_id": "x1"},
        headers=bearer(token),
    )
    assert response.status_code == 401 and kind(response) == "visitor-token-invalid"
    assert stored(services, personas.b_id) == []


def test_a_token_expires_after_a_year(client: Any, sites: Sites) -> None:
    token = new_visitor(client, sites.a)
    clock.travel(visitors.TOKEN_LIFETIME + dt.timedelta(days=1))
    response = client.get(api(sites.a, "/conversation"), headers=bearer(token))
    assert response.status_code == 401 and "expired" in response.json()["detail"]


# -- identity verification ---------------------------------------------------------------


def test_identity_verification_accepts_a_good_hash_and_links_the_users_email(
    client: Any, services: Services, personas: Personas, sites: Sites
) -> None:
    config = configure_widget(services, personas.a_id, identity_verification="optional")
    good = visitors.identity_hash(config.identity_secret, "user-42")
    user = {"id": "user-42", "email": "Dana@Example.com", "name": "Dana", "hash": good}
    first = client.post(api(sites.a, "/visitors"), json={"user": user})
    assert first.status_code == 201, first.text
    assert first.json()["visitor"]["verified"] is True
    assert first.json()["visitor"]["email"] == "dana@example.com"
    # The same user on another device is the same visitor, with the same conversations.
    second = client.post(api(sites.a, "/visitors"), json={"user": user})
    assert second.json()["visitor"]["id"] == first.json()["visitor"]["id"]
    anonymous = client.post(api(sites.a, "/visitors"), json={})
    assert anonymous.status_code == 201 and anonymous.json()["visitor"]["verified"] is False


@pytest.mark.parametrize(
    ("mode", "user", "field"),
    [
        ("optional", {"id": "user-42", "hash": "0" * 64}, "user.hash"),
        ("required", {"id": "user-42", "hash": "0" * 64}, "user.hash"),
        ("required", None, "user"),
        ("required", {"id": "user-42"}, "user.hash"),
    ],
)
def test_a_bad_or_missing_identity_hash_is_refused_and_no_visitor_is_made(
    client: Any,
    services: Services,
    personas: Personas,
    sites: Sites,
    mode: str,
    user: dict[str, str] | None,
    field: str,
) -> None:
    configure_widget(services, personas.a_id, identity_verification=mode)
    body = {"user": user} if user else {}
    response = client.post(api(sites.a, "/visitors"), json=body)
    assert response.status_code == 401 and kind(response) == "identity-invalid"
    assert response.json()["errors"][0]["field"] == field
    with services.db.read() as s:
        from chatmina.conversations.models import Visitor

        assert s.query(Visitor).count() == 0


# -- messages ------------------------------------------------------------------------------


def test_a_message_is_stored_and_the_assistant_answers_it(
    client: Any, services: Services, personas: Personas, sites: Sites, help_center: Any
) -> None:
    token = new_visitor(client, sites.a)
    response = say(client, sites.a, token, "  How do refunds work?  ")
    assert response.status_code == 202
    body = response.json()
    assert body["message"]["content"] == "How do refunds work?"
    assert body["message"]["role"] == "visitor" and body["conversation"]["state"] == "bot"
    messages = answered(services, personas.a_id, 1)
    assert messages[0] == ("visitor", "How do refunds work?") and messages[1][0] == "assistant"
    current = client.get(api(sites.a, "/conversation"), headers=bearer(token)).json()
    answer = current["messages"][1]
    assert answer["role"] == "assistant" and answer["sources"][0]["title"] == "Refunds"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "Type a message."),
        ("   \n ", "Type a message."),
        ("x" * 2001, "A message is limited to 2,000 characters (this one has 2,001)."),
    ],
)
def test_empty_or_oversized_messages_are_refused_and_nothing_is_stored(
    client: Any, services: Services, personas: Personas, sites: Sites, content: str, message: str
) -> None:
    token = new_visitor(client, sites.a)
    response = say(client, sites.a, token, content)
    assert response.status_code == 400 and kind(response) == "invalid-input"
    assert response.json()["errors"] == [{"field": "content", "message": message}]
    assert stored(services, personas.a_id) == []


def test_exactly_2000_characters_is_fine(
    client: Any, services: Services, personas: Personas, sites: Sites
) -> None:
    token = new_visitor(client, sites.a)
    assert say(client, sites.a, token, "y" * 2000).status_code == 202


@pytest.mark.parametrize(
    "body",
    [
        {"content": "hi"},
        {"content": "hi", "client_id": ""},
        {"content": "hi", "client_id": "has spaces"},
        {"content": 5, "client_id": "a"},
        {"content": "hi", "client_id": "a", "extra": 1},
    ],
)
def test_malformed_message_bodies_are_400_problems(
    client: Any, services: Services, personas: Personas, sites: Sites, body: dict[str, Any]
) -> None:
    token = new_visitor(client, sites.a)
    response = client.post(api(sites.a, "/messages"), json=body, headers=bearer(token))
    assert response.status_code == 400 and kind(response) == "invalid-input"
    assert stored(services, personas.a_id) == []


def test_the_same_client_id_twice_stores_one_message(
    client: Any, services: Services, personas: Personas, sites: Sites
) -> None:
    token = new_visitor(client, sites.a)
    client_id = str(uuid.uuid4())
    first = say(client, sites.a, token, "Where is my parcel?", client_id)
    again = say(client, sites.a, token, "Where is my parcel?", client_id)
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json()["message"]["id"] == first.json()["message"]["id"]
    answered(services, personas.a_id, 1)
    visitor_messages = [m for m in stored(services, personas.a_id) if m[0] == "visitor"]
    assert visitor_messages == [("visitor", "Where is my parcel?")]


# -- origins and CORS ----------------------------------------------------------------------


def test_a_disallowed_origin_gets_403_and_nothing_is_stored(
    client: Any, services: Services, personas: Personas, sites: Sites
) -> None:
    configure_widget(services, personas.a_id)
    token = new_visitor(client, sites.a)
    evil = {"Origin": "https://evil.example.net"}
    response = client.post(
        api(sites.a, "/messages"),
        json={"content": "hi", "client_id": "c1"},
        headers={**bearer(token), **evil},
    )
    assert response.status_code == 403 and kind(response) == "origin-not-allowed"
    assert "evil.example.net" in response.json()["detail"]
    assert stored(services, personas.a_id) == []
    created = client.post(api(sites.a, "/visitors"), json={}, headers=evil)
    assert created.status_code == 403
    preflight = client.options(
        api(sites.a, "/messages"),
        headers={**evil, "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 403
    assert "access-control-allow-origin" not in preflight.headers


def test_an_allowed_origin_gets_cors_headers_and_preflights_are_answered(
    client: Any, services: Services, personas: Personas, sites: Sites
) -> None:
    configure_widget(services, personas.a_id)
    shop = {"Origin": "https://shop.example.com"}
    response = client.get(api(sites.a, "/config"), headers=shop)
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "https://shop.example.com"
    assert "Origin" in response.headers["vary"]
    preflight = client.options(
        api(sites.a, "/messages"),
        headers={
            **shop,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "https://shop.example.com"
    assert "authorization" in preflight.headers["access-control-allow-headers"]
    assert "last-event-id" in preflight.headers["access-control-allow-headers"]
    # Errors carry CORS headers too, so the widget can read why.
    refused = client.get(api(sites.a, "/conversation"), headers={**shop, **bearer("bad")})
    assert refused.status_code == 401
    assert refused.headers["access-control-allow-origin"] == "https://shop.example.com"


def test_the_apps_own_origin_is_always_allowed(
    client: Any, services: Services, personas: Personas, sites: Sites
) -> None:
    configure_widget(services, personas.a_id)
    own = {"Origin": "http://testserver.local"}
    assert client.get(api(sites.a, "/config"), headers=own).status_code == 200
    # Another workspace's allowed origin does not open this one's widget.
    configure_widget(services, personas.b_id, allowed_origins="https://bravo.example.org")
    bravo = {"Origin": "https://bravo.example.org"}
    assert client.get(api(sites.a, "/config"), headers=bravo).status_code == 403
    assert client.get(api(sites.b, "/config"), headers=bravo).status_code == 200


# -- rate limits ---------------------------------------------------------------------------


def test_a_flooding_visitor_gets_429_and_other_visitors_are_unaffected(
    client: Any, services: Services, personas: Personas, sites: Sites
) -> None:
    flooder = new_visitor(client, sites.a)
    limit = services.settings.widget_messages_per_minute
    for n in range(limit):
        assert say(client, sites.a, flooder, f"message {n}").status_code == 202
    refused = say(client, sites.a, flooder, "one too many")
    assert refused.status_code == 429 and kind(refused) == "rate-limited"
    assert int(refused.headers["retry-after"]) >= 1
    neighbour = new_visitor(client, sites.a)
    assert say(client, sites.a, neighbour, "I am fine").status_code == 202
    contents = [c for r, c in stored(services, personas.a_id) if r == "visitor"]
    assert "one too many" not in contents
    assert contents.count("I am fine") == 1 and len(contents) == limit + 1


def test_one_address_is_limited_across_visitors(
    client: Any, services: Services, personas: Personas, sites: Sites
) -> None:
    from chatmina.ratelimit import RateLimiter

    services.live.per_ip = RateLimiter(3, 60)
    for _ in range(3):
        new_visitor(client, sites.a)
    response = client.post(api(sites.a, "/visitors"), json={})
    assert response.status_code == 429 and "retry-after" in response.headers


def test_every_widget_route_counts_against_the_address_reads_and_bad_tokens_too(
    client: Any, services: Services, personas: Personas, sites: Sites
) -> None:
    from chatmina.ratelimit import RateLimiter

    token = new_visitor(client, sites.a)
    services.live.per_ip = RateLimiter(4, 60)
    assert client.get(api(sites.a, "/config")).status_code == 200
    assert client.get(api(sites.a, "/conversation"), headers=bearer(token)).status_code == 200
    forged = client.get(api(sites.a, "/conversation"), headers=bearer(token + "x"))
    assert forged.status_code == 401
    assert client.get(api(sites.a, "/config")).status_code == 200
    for route in ("/config", "/conversation"):
        response = client.get(api(sites.a, route), headers=bearer(token))
        assert response.status_code == 429 and kind(response) == "rate-limited"
        assert "Too many requests from this address" in response.json()["detail"]


# -- handoff, feedback, rating -------------------------------------------------------------


def test_asking_for_a_person_stops_the_assistant(
    client: Any, services: Services, personas: Personas, sites: Sites, help_center: Any
) -> None:
    token = new_visitor(client, sites.a)
    say(client, sites.a, token, "How do refunds work?")
    answered(services, personas.a_id, 1)
    response = client.post(api(sites.a, "/handoff"), json={}, headers=bearer(token))
    assert response.status_code == 200 and response.json()["conversation"]["state"] == "waiting"
    say(client, sites.a, token, "Hello? Anyone?")
    say(client, sites.a, token, "Shipping times?")
    wait_for(lambda: services.live.answers.running == 0)
    roles = [r for r, _ in stored(services, personas.a_id)]
    assert roles == ["visitor", "assistant", "visitor", "visitor"]


def test_handoff_can_be_turned_off(
    client: Any, services: Services, personas: Personas, sites: Sites
) -> None:
    configure_widget(services, personas.a_id, handoff_enabled="")
    token = new_visitor(client, sites.a)
    response = client.post(api(sites.a, "/handoff"), json={}, headers=bearer(token))
    assert response.status_code == 400 and kind(response) == "invalid-input"


def test_feedback_is_for_the_visitors_own_assistant_answers(
    client: Any, services: Services, personas: Personas, sites: Sites, help_center: Any
) -> None:
    token = new_visitor(client, sites.a)
    question = say(client, sites.a, token, "How do refunds work?").json()["message"]["id"]
    answered(services, personas.a_id, 1)
    answer = client.get(api(sites.a, "/conversation"), headers=bearer(token)).json()
    answer_id = answer["messages"][1]["id"]
    url = api(sites.a, f"/messages/{answer_id}/feedback")
    response = client.post(url, json={"rating": "up"}, headers=bearer(token))
    assert response.status_code == 200 and response.json()["message"]["feedback"] == "up"
    bad = client.post(url, json={"rating": "meh"}, headers=bearer(token))
    assert bad.status_code == 400
    own_question = client.post(
        api(sites.a, f"/messages/{question}/feedback"), json={"rating": "up"}, headers=bearer(token)
    )
    assert own_question.status_code == 400
    stranger = new_visitor(client, sites.a)
    response = client.post(url, json={"rating": "down"}, headers=bearer(stranger))
    assert response.status_code == 404
    again = client.get(api(sites.a, "/conversation"), headers=bearer(token)).json()
    assert again["messages"][1]["feedback"] == "up"


@pytest.mark.parametrize("body", [{"stars": 0}, {"stars": 6}, {"stars": "five"}, {}])
def test_bad_ratings_are_400(client: Any, sites: Sites, body: dict[str, Any]) -> None:
    token = new_visitor(client, sites.a)
    response = client.post(api(sites.a, "/rating"), json=body, headers=bearer(token))
    assert response.status_code == 400 and kind(response) == "invalid-input"


def test_a_conversation_is_rated_only_once_resolved_and_a_new_message_starts_a_new_one(
    client: Any, services: Services, personas: Personas, sites: Sites
) -> None:
    from chatmina.conversations import routing

    token = new_visitor(client, sites.a)
    first = say(client, sites.a, token, "Hello").json()["conversation"]["id"]
    early = client.post(api(sites.a, "/rating"), json={"stars": 5}, headers=bearer(token))
    assert early.status_code == 409 and kind(early) == "conflict"
    routing.resolve(services.db, personas.a_id, first, personas.bob_id)
    rated = client.post(
        api(sites.a, "/rating"), json={"stars": 4, "comment": "Quick!"}, headers=bearer(token)
    )
    assert rated.status_code == 200
    assert rated.json()["conversation"]["rating"] == 4
    assert rated.json()["conversation"]["state"] == "resolved"
    later = say(client, sites.a, token, "One more thing").json()["conversation"]
    assert later["id"] != first and later["state"] == "bot"


def test_notes_never_reach_the_visitor(
    client: Any, services: Services, personas: Personas, sites: Sites
) -> None:
    from chatmina.conversations import routing

    token = new_visitor(client, sites.a)
    conversation = say(client, sites.a, token, "Hello").json()["conversation"]["id"]
    routing.add_note(services.db, personas.a_id, conversation, personas.bob_id, "VIP customer")
    routing.reply(services.db, personas.a_id, conversation, personas.bob_id, "Hi, Bob here")
    body = client.get(api(sites.a, "/conversation"), headers=bearer(token)).json()
    contents = [m["content"] for m in body["messages"]]
    assert "VIP customer" not in contents and "Hi, Bob here" in contents
    agent = next(m for m in body["messages"] if m["role"] == "agent")
    assert agent["author_name"] == "Bob"
    assert body["conversation"]["assignee_name"] == "Bob"


def test_typing_is_accepted(client: Any, sites: Sites) -> None:
    token = new_visitor(client, sites.a)
    response = client.post(api(sites.a, "/typing"), json={"active": True}, headers=bearer(token))
    assert response.status_code == 204
    bad = client.post(api(sites.a, "/typing"), json={"active": "yes"}, headers=bearer(token))
    assert bad.status_code == 400


def test_every_widget_route_is_in_the_openapi_document_under_widget(client: Any) -> None:
    schema = client.get("/schema/openapi.json").json()
    widget = {
        (method.upper(), path)
        for path, item in schema["paths"].items()
        for method, op in item.items()
        if "Widget" in op.get("tags", [])
    }
    base = "/api/widget/v1/{public_id}"
    assert widget >= {
        ("GET", base + "/config"),
        ("POST", base + "/visitors"),
        ("GET", base + "/conversation"),
        ("POST", base + "/messages"),
        ("GET", base + "/events"),
        ("POST", base + "/typing"),
        ("POST", base + "/handoff"),
        ("POST", base + "/messages/{message_id}/feedback"),
        ("POST", base + "/rating"),
    }


def test_the_api_docs_explain_the_widgets_problem_types(client: Any, personas: Personas) -> None:
    client.login("alice@example.com")
    page = client.get("/api/docs").text
    for name in ("origin-not-allowed", "visitor-token-invalid", "identity-invalid"):
        assert name in page


def test_a_workspace_deleted_moments_ago_answers_404_not_500(
    client: Any, services: Services, personas: Personas, sites: Sites
) -> None:
    new_visitor(client, sites.b)  # workspace B is now in the widget's short cache
    with services.db.read() as s:
        slug = s.get(Workspace, personas.b_id).slug  # type: ignore[union-attr]
    accounts.delete_workspace(services.db, personas.b_id, slug)
    response = client.post(api(sites.b, "/visitors"), json={})
    assert response.status_code == 404, response.text
    assert response.json()["detail"] == "No such widget."
