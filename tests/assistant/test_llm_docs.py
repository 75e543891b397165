"""docs/llm.md's example configurations, run.

Each ```sh block that sets ``CHATMINA_LLM_*`` is an example, named by the heading above
it. It must load as written, point at its server's default address, and answer a question
through the real app when only its host and port are swapped for the fake model server's.
The Python client example runs against Chatmina on a real port.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from chatmina.settings import SETTINGS, Settings, load_settings
from tests.accounts.helpers import bearer
from tests.conftest import Personas, make_settings
from tests.fakes.openai_server import FakeOpenAI

DOCS = Path(__file__).resolve().parents[2] / "docs" / "llm.md"
QUESTION = "How many days do I have to request a refund?"

# Where each server listens unless told otherwise, from its own documentation.
DEFAULT_PORTS = {
    "OpenAI": 443,  # https://api.openai.com/v1
    "Ollama": 11434,
    "llama.cpp": 8080,
    "vLLM": 8000,
    "LM Studio": 1234,
}
KNOWN_NAMES = {s.env for s in SETTINGS} | {f"{s.env}_FILE" for s in SETTINGS if s.secret}
_ASSIGNMENT = re.compile(r"([A-Z][A-Z0-9_]*)=(.*)")


@dataclass
class Example:
    name: str  # the heading above the block
    env: dict[str, str] = field(default_factory=dict)
    commands: list[str] = field(default_factory=list)  # the server's start commands
    unreadable: list[str] = field(default_factory=list)  # lines that are not NAME=value

    @property
    def base_url(self) -> str:
        return self.env.get("CHATMINA_LLM_BASE_URL", "https://api.openai.com/v1")

    @property
    def model(self) -> str:
        return self.env["CHATMINA_LLM_MODEL"]

    def pointed_at(self, fake: FakeOpenAI) -> dict[str, str]:
        """The environment as written, with the server's scheme, host and port the fake's."""
        documented, served = urlsplit(self.base_url), urlsplit(fake.base_url)
        moved = documented._replace(scheme=served.scheme, netloc=served.netloc).geturl()
        return {**self.env, "CHATMINA_LLM_BASE_URL": moved}


def read_examples(markdown: str) -> list[Example]:
    examples: dict[str, Example] = {}
    heading = ""
    block: list[str] | None = None
    for line in markdown.splitlines():
        if block is None and line.startswith("#"):
            heading = line.lstrip("#").strip()
        elif block is None and line.strip() == "```sh":
            block = []
        elif block is not None and line.strip() == "```":
            example = examples.setdefault(heading, Example(heading))
            if any(text.startswith("CHATMINA_LLM_") for text in block):
                assert not example.env, f"two environment blocks under {heading!r}"
                for text in block:
                    if not text.strip() or text.lstrip().startswith("#"):
                        continue
                    found = _ASSIGNMENT.fullmatch(text)
                    if found is None:
                        example.unreadable.append(text)
                    else:
                        example.env[found[1]] = found[2]
            else:
                example.commands += [text for text in block if text.strip()]
            block = None
        elif block is not None:
            block.append(line)
    return [e for e in examples.values() if e.env]


EXAMPLES = read_examples(DOCS.read_text())


def each_example() -> Any:
    return pytest.mark.parametrize("example", EXAMPLES, ids=[e.name for e in EXAMPLES])


@pytest.fixture
def example() -> Example | None:
    """None (no model configured) unless a test is parametrized with an example."""
    return None


@pytest.fixture
def model_server(example: Example | None) -> Iterator[FakeOpenAI | None]:
    """The fake standing in for the example's server, with its key and model name."""
    if example is None:
        yield None
        return
    with FakeOpenAI(api_key=example.env.get("CHATMINA_LLM_API_KEY")) as fake:
        if example.model not in fake.models:
            fake.models.append(example.model)
        yield fake


@pytest.fixture
def settings(
    settings: Settings, example: Example | None, model_server: FakeOpenAI | None
) -> Settings:
    if example is None or model_server is None:
        return settings
    return make_settings(settings.data_path, **example.pointed_at(model_server))


# -- the examples as written --------------------------------------------------------------


def test_every_server_the_guide_covers_has_an_example() -> None:
    assert sorted(e.name for e in EXAMPLES) == sorted(DEFAULT_PORTS)


@each_example()
def test_an_example_is_plain_name_value_lines(example: Example) -> None:
    # Unquoted NAME=value reads the same in a shell, a systemd EnvironmentFile= and
    # docker's --env-file (which would keep quotes as part of the value).
    assert not example.unreadable, f"not NAME=value: {example.unreadable}"
    quoted = [name for name, value in example.env.items() if value[:1] in ("'", '"')]
    assert not quoted, f"quoted values: {quoted}"
    unknown = sorted(set(example.env) - KNOWN_NAMES)
    assert not unknown, f"Chatmina has no such settings (typos are ignored silently): {unknown}"


@each_example()
def test_an_example_loads_unchanged(example: Example, tmp_path: Path) -> None:
    environ = {"CHATMINA_DATA_DIR": str(tmp_path), **example.env}
    loaded = load_settings(environ)
    for setting in SETTINGS:
        if setting.env in example.env:
            assert str(loaded.values[setting.name]) == example.env[setting.env]
            assert loaded.sources[setting.name] == setting.env
    assert loaded.llm_model, "an example that sets no model turns no model on"


@each_example()
def test_an_example_points_at_its_servers_default_address(example: Example) -> None:
    url = urlsplit(example.base_url)
    assert url.path == "/v1", "OpenAI-compatible servers serve their API under /v1"
    port = url.port or {"http": 80, "https": 443}[url.scheme]
    assert port == DEFAULT_PORTS[example.name]
    for command in example.commands:  # the server's own command agrees with the URL
        given = re.search(r"--port[ =](\d+)", command)
        assert given is None or int(given[1]) == port, command


# -- the examples at work -----------------------------------------------------------------


@each_example()
def test_an_example_answers_through_the_app(
    example: Example,
    model_server: FakeOpenAI,
    client: Any,
    personas: Personas,
    help_center: dict[str, int],
) -> None:
    body = {"model": "chatmina", "messages": [{"role": "user", "content": QUESTION}]}
    response = client.post("/v1/chat/completions", json=body, headers=bearer(personas.a_key))
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["choices"][0]["message"]["content"] == f"Answer to: {QUESTION}"
    assert answer["chatmina"]["outcome"] == "answered"
    (request,) = model_server.requests
    assert request.path == "/v1/chat/completions"
    assert request.body["model"] == example.model
    key = example.env.get("CHATMINA_LLM_API_KEY")
    if key:
        assert request.headers["authorization"] == f"Bearer {key}"
    system = request.body["messages"][0]["content"]
    assert "within 30 days of purchase" in system  # the passages went to the model


def test_the_python_client_example_prints_the_answer_and_its_citations(
    live: str, personas: Personas, help_center: dict[str, int], capsys: Any
) -> None:
    (code,) = re.findall(r"```python\n(.*?)```", DOCS.read_text(), re.DOTALL)
    for placeholder in ('"https://HOST/v1"', '"cm_..."'):
        assert placeholder in code
    code = code.replace('"https://HOST/v1"', repr(live + "/v1"))
    code = code.replace('"cm_..."', repr(personas.a_key))
    exec(compile(code, str(DOCS), "exec"), {})  # the example as a reader would run it
    printed = capsys.readouterr().out
    assert "within 30 days of purchase" in printed
    assert "[1] Refunds https://help.acme.test/refunds" in printed
    assert "outcome: extractive" in printed
