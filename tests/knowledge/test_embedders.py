"""Embedders: the builtin feature hasher, OpenAI-compatible servers over real HTTP (the fake
server in tests/fakes), model2vec models built here, and how settings choose between them."""

from __future__ import annotations

import hashlib
import json
import socket
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

from chatmina.knowledge.embedders import (
    EmbedderError,
    config_of,
    from_config,
    from_settings,
)
from chatmina.knowledge.embedders.builtin import MAX_TEXT_CHARS, BuiltinEmbedder
from chatmina.settings import SettingsError, load_settings
from tests.fakes.openai_server import FakeOpenAI, fake_vector

PASSAGES = {
    "password": "To reset your password, open the sign-in page and click 'Forgot password'. "
    "We email you a link that stays valid for one hour.",
    "refund": "Refunds are paid to the original payment method within 5 to 10 business days "
    "after we receive the returned item. Shipping costs are not refundable.",
    "shipping": "We ship worldwide. Orders placed before 2 pm leave the same day, and the "
    "tracking number is emailed once the parcel leaves our warehouse.",
    "invoice": "Invoices are in your account under Billing. Download each invoice as a PDF, "
    "or change the company name and VAT number printed on it.",
    "two-factor": "Two-factor authentication adds a second step to signing in. Turn it on "
    "under Security and scan the QR code with an authenticator app.",
}
QUESTIONS = {
    "password": "how do I reset my password",
    "refund": "when is my refund paid back to my payment method",
    "shipping": "where is the tracking number for my parcel",
    "invoice": "download an invoice as pdf",
    "two-factor": "turn on two-factor authentication",
}


def _norms(vectors: np.ndarray) -> np.ndarray:
    return np.linalg.norm(vectors.astype(np.float64), axis=1)


# -- builtin ---------------------------------------------------------------------------------

_IN_ANOTHER_PROCESS = """
import hashlib, json, sys
from chatmina.knowledge.embedders import from_settings
from chatmina.settings import load_settings
texts = json.loads(sys.stdin.read())
vectors = from_settings(load_settings({})).embed(texts)
print(json.dumps({
    "sha256": hashlib.sha256(vectors.tobytes()).hexdigest(),
    "heavy": sorted(m for m in ("openai", "tokenizers") if m in sys.modules),
}))
"""


def test_builtin_vectors_are_identical_in_another_process_and_hash_seed() -> None:
    texts = [*PASSAGES.values(), "Ünïcödé Straße ПАРОЛЬ 密码 🙂", ""]
    here = BuiltinEmbedder().embed(texts)
    done = subprocess.run(
        [sys.executable, "-c", _IN_ANOTHER_PROCESS],
        input=json.dumps(texts),
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "12345", "PATH": "/usr/bin:/bin"},
        cwd=Path(__file__).resolve().parents[2],
    )
    there = json.loads(done.stdout)
    assert there["sha256"] == hashlib.sha256(here.tobytes()).hexdigest()
    # Start-up stays fast: the builtin path never loads the heavy optional libraries.
    assert there["heavy"] == []


def test_builtin_rows_are_unit_float32_and_empty_texts_give_zero_rows() -> None:
    texts = ["Refunds take five days.", "", "  ?!  ", "a"]
    vectors = BuiltinEmbedder().embed(texts)

    assert vectors.dtype == np.float32
    assert vectors.shape == (4, 384)
    assert np.allclose(_norms(vectors), [1, 0, 0, 1], atol=1e-5)
    assert BuiltinEmbedder().embed([]).shape == (0, 384)


# Thresholds in the similarity tests below sit well clear of what 150 other choices of the
# hash constants gave (hash collisions move similarities by a few hundredths), so they test
# the method, not the luck of one hash.


def test_builtin_ranks_the_passage_sharing_words_with_the_question_first() -> None:
    names = list(PASSAGES)
    embedder = BuiltinEmbedder()
    scores = (
        embedder.embed([QUESTIONS[n] for n in names])
        @ embedder.embed([PASSAGES[n] for n in names]).T
    )
    for i, name in enumerate(names):
        others = np.delete(scores[i], i)
        assert scores[i, i] > 0.25, name
        assert scores[i, i] > others.max() + 0.1, (name, scores[i])


def test_builtin_matches_word_forms_through_shared_fragments() -> None:
    embedder = BuiltinEmbedder()
    question, related, unrelated = embedder.embed(
        [
            "resetting forgotten passwords",
            "How to reset a forgotten password",
            "Parcels ship within two days",
        ]
    )
    assert question @ related > 0.4
    assert question @ related > question @ unrelated + 0.25


def test_builtin_counts_stopwords_for_little() -> None:
    embedder = BuiltinEmbedder()
    question, topical, chatty = embedder.embed(
        [
            "how do I change the invoice address",
            "Invoice address changes",
            "How do I do this and what do I do with the other one",
        ]
    )
    assert question @ topical > question @ chatty + 0.4


def test_builtin_dampens_repeated_words() -> None:
    sentence = "Shipping costs are not refundable once the parcel leaves our warehouse"
    repetitive, plain = BuiltinEmbedder().embed(["invoice " * 50 + sentence, sentence])
    # Counted linearly, fifty "invoice"s drown the sentence (similarity below 0.2).
    assert repetitive @ plain > 0.3


def test_builtin_ignores_case_width_and_symbols_outside_words() -> None:
    plain, shouted, full_width, decorated = BuiltinEmbedder().embed(
        [
            "reset password",
            "RESET PASSWORD",
            "".join(chr(ord(c) + 0xFEE0) if c != " " else c for c in "reset password"),
            "🔑 reset -- password! 🙂",
        ]
    )
    assert np.array_equal(plain, shouted)
    assert np.array_equal(plain, full_width)
    assert np.array_equal(plain, decorated)


def test_builtin_works_for_other_scripts() -> None:
    embedder = BuiltinEmbedder()
    question, related, unrelated = embedder.embed(
        [
            "как сбросить пароль",
            "Чтобы сбросить пароль, откройте страницу входа.",
            "Доставка заказа занимает три дня",
        ]
    )
    assert question @ related > 0.3
    assert question @ related > question @ unrelated + 0.25


def test_builtin_row_depends_only_on_its_own_text() -> None:
    # 400 chunks of ~800 characters cross the embedder's internal slices.
    texts = [f"Chunk {i}: " + " ".join(PASSAGES.values())[: 780 + i % 20] for i in range(400)]
    texts[7] = "contains a NUL \x00 inside"
    embedder = BuiltinEmbedder()
    batch = embedder.embed(texts)
    for i in (0, 7, 8, 250, 399):
        assert np.array_equal(batch[i], embedder.embed([texts[i]])[0]), i


def test_builtin_reads_at_most_max_text_chars_of_a_text() -> None:
    head = "billing invoice " * (MAX_TEXT_CHARS // 16)
    vectors = BuiltinEmbedder().embed([head[:MAX_TEXT_CHARS], head + "shipping parcel " * 999])
    assert np.array_equal(vectors[0], vectors[1])


# -- openai ----------------------------------------------------------------------------------


def _openai(fake: FakeOpenAI, **config: Any) -> Any:
    return from_config({"kind": "openai", "base_url": fake.base_url, **config})


def test_openai_embeds_through_the_real_client_and_renormalises(fake_openai: FakeOpenAI) -> None:
    fake_openai.scale = 2.5  # a server that does not return unit vectors
    embedder = _openai(fake_openai, model="nomic-embed-text")
    vectors = embedder.embed(["first", "second"])

    assert vectors.dtype == np.float32
    assert vectors.shape == (2, 64)
    assert np.allclose(_norms(vectors), 1, atol=1e-5)
    assert np.allclose(vectors[1], fake_vector("nomic-embed-text", "second", 64), atol=1e-6)
    body = fake_openai.requests[0].body
    assert body["encoding_format"] == "float"
    assert "dimensions" not in body  # the model's own size: many servers reject the parameter


def test_openai_sends_at_most_128_inputs_per_request_and_keeps_order(
    fake_openai: FakeOpenAI,
) -> None:
    texts = [f"text number {i}" for i in range(300)]
    vectors = _openai(fake_openai).embed(texts)

    assert [len(r.body["input"]) for r in fake_openai.requests] == [128, 128, 44]
    for i in (0, 127, 128, 299):
        assert np.allclose(vectors[i], fake_vector("text-embedding-3-small", texts[i], 64))


def test_openai_asks_for_configured_dimensions(fake_openai: FakeOpenAI) -> None:
    embedder = _openai(fake_openai, dimensions=32)
    assert embedder.dimensions == 32  # known from the configuration: no request needed
    assert fake_openai.requests == []

    assert embedder.embed(["hello"]).shape == (1, 32)
    assert fake_openai.requests[0].body["dimensions"] == 32
    assert embedder.spec == f"openai:text-embedding-3-small/32@{fake_openai.base_url}"


def test_openai_learns_the_native_size_with_one_request(fake_openai: FakeOpenAI) -> None:
    embedder = _openai(fake_openai, model="nomic-embed-text")
    assert embedder.spec == f"openai:nomic-embed-text/native@{fake_openai.base_url}"
    assert fake_openai.requests == []  # the spec comes from the configuration alone
    assert embedder.dimensions == 64
    assert embedder.dimensions == 64
    assert len(fake_openai.requests) == 1


def test_openai_knows_openais_own_models_without_asking() -> None:
    embedder = from_config({"kind": "openai", "api_key": "sk-x"})
    assert embedder.spec == "openai:text-embedding-3-small/1536@https://api.openai.com/v1"
    assert embedder.dimensions == 1536


def test_openai_leaves_blank_texts_out_of_the_request(fake_openai: FakeOpenAI) -> None:
    vectors = _openai(fake_openai).embed(["", "hello", "   "])
    assert [r.body["input"] for r in fake_openai.requests] == [["hello"]]
    assert np.allclose(_norms(vectors), [0, 1, 0], atol=1e-5)


def test_openai_refused_key_gives_a_clear_error_without_the_key() -> None:
    with FakeOpenAI(api_key="sk-right-one") as fake:
        embedder = _openai(fake, api_key="sk-wrong-and-secret")
        with pytest.raises(EmbedderError) as caught:
            embedder.embed(["hello"])
        sent = fake.requests[0].headers["authorization"]
        url = fake.base_url

    message = str(caught.value)
    assert sent == "Bearer sk-wrong-and-secret"  # the fake quoted it back in its answer
    assert "401" in message and "CHATMINA_EMBEDDINGS_API_KEY" in message
    assert url in message
    assert "sk-wrong" not in message
    assert len(fake.requests) == 1  # a refused key is not retried


def test_openai_server_error_is_retried_until_it_succeeds(fake_openai: FakeOpenAI) -> None:
    fake_openai.fail_next(status=500, headers={"retry-after-ms": "10"})
    vectors = _openai(fake_openai).embed(["hello"])
    assert len(fake_openai.requests) == 2
    assert np.allclose(vectors[0], fake_vector("text-embedding-3-small", "hello", 64))


def test_openai_gives_up_after_two_retries_with_a_clear_error(fake_openai: FakeOpenAI) -> None:
    fake_openai.fail_next(status=429, headers={"retry-after-ms": "10"}, times=3)
    with pytest.raises(EmbedderError, match="429"):
        _openai(fake_openai).embed(["hello"])
    assert len(fake_openai.requests) == 3


def test_openai_error_details_never_repeat_the_key(fake_openai: FakeOpenAI) -> None:
    body = {"error": {"message": "key sk-secret-value is not allowed for this model"}}
    fake_openai.fail_next(status=400, body=body)
    with pytest.raises(EmbedderError) as caught:
        _openai(fake_openai, api_key="sk-secret-value").embed(["hello"])
    assert "HTTP 400" in str(caught.value)
    assert "is not allowed" in str(caught.value)
    assert "sk-secret-value" not in str(caught.value)


def test_openai_unknown_model_is_named_in_the_error(fake_openai: FakeOpenAI) -> None:
    with pytest.raises(EmbedderError, match=r"'no-such-model' \(HTTP 404\)"):
        _openai(fake_openai, model="no-such-model").embed(["hello"])


def test_openai_unreachable_server_is_named_without_its_credentials() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once the socket closes
    embedder = from_config(
        {"kind": "openai", "base_url": f"http://admin:hunter2@127.0.0.1:{port}/v1"}
    )
    with pytest.raises(EmbedderError) as caught:
        embedder.embed(["hello"])
    message = str(caught.value)
    assert f"cannot reach the embeddings server at http://127.0.0.1:{port}/v1" in message
    assert "hunter2" not in message


def test_openai_timeout_is_reported_in_seconds(fake_openai: FakeOpenAI) -> None:
    fake_openai.delay = 1.0
    with pytest.raises(EmbedderError, match=r"did not answer within 0\.2 seconds"):
        _openai(fake_openai, timeout=0.2).embed(["hello"])


def test_openai_vectors_of_another_size_than_requested_are_refused(
    fake_openai: FakeOpenAI,
) -> None:
    fake_openai.honour_dimensions = False  # a model that cannot shorten its vectors
    with pytest.raises(EmbedderError, match="64-dimensional embeddings, not the 32 requested"):
        _openai(fake_openai, dimensions=32).embed(["hello"])


def test_openai_vectors_changing_size_later_are_refused(fake_openai: FakeOpenAI) -> None:
    embedder = _openai(fake_openai, model="nomic-embed-text")
    embedder.embed(["hello"])
    fake_openai.dimensions = 48
    with pytest.raises(EmbedderError, match="48-dimensional embeddings where 64 were expected"):
        embedder.embed(["again"])


@pytest.mark.parametrize(
    "config",
    [
        {"base_url": "ftp://example.com/v1"},
        {"base_url": "not a url"},
        {"model": "  "},
        {"dimensions": -1},
        {"dimensions": "many"},
    ],
)
def test_openai_unusable_configuration_is_a_clear_error(config: dict[str, Any]) -> None:
    with pytest.raises(EmbedderError):
        from_config({"kind": "openai", **config})


# -- model2vec -------------------------------------------------------------------------------

VOCABULARY = [
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "reset", "password", "email", "link", "sign", "in",
    "refund", "order", "money", "card", "days", "shipping", "parcel", "tracking", "the", "your",
]  # fmt: skip
WIDTH = 16


def write_safetensors(path: Path, tensors: dict[str, np.ndarray]) -> None:
    """The safetensors layout: header length, JSON header, then each tensor's bytes."""
    names = {np.dtype("<f4"): "F32", np.dtype("<f2"): "F16", np.dtype("<i8"): "I64"}
    header: dict[str, Any] = {"__metadata__": {"format": "np"}}
    blobs, offset = [], 0
    for name, array in tensors.items():
        data = np.ascontiguousarray(array).tobytes()
        header[name] = {
            "dtype": names[array.dtype],
            "shape": list(array.shape),
            "data_offsets": [offset, offset + len(data)],
        }
        blobs.append(data)
        offset += len(data)
    encoded = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(encoded)) + encoded + b"".join(blobs))


def make_model(
    directory: Path, seed: int = 7, dtype: str = "<f4", weights: bool = False
) -> np.ndarray:
    """A tiny model2vec directory; returns its embedding matrix as float32."""
    directory.mkdir(parents=True, exist_ok=True)
    tokenizer = Tokenizer(
        models.WordLevel({t: i for i, t in enumerate(VOCABULARY)}, unk_token="[UNK]")
    )
    tokenizer.normalizer = normalizers.Lowercase()
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    # Encoding with special tokens would add [CLS] and [SEP]; model2vec leaves them out.
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    tokenizer.save(str(directory / "tokenizer.json"))
    rng = np.random.default_rng(seed)
    matrix = rng.standard_normal((len(VOCABULARY), WIDTH)).astype(dtype)
    tensors = {"embeddings": matrix}
    if weights:
        tensors["weights"] = rng.uniform(0.5, 2.0, len(VOCABULARY)).astype("<f4")
    write_safetensors(directory / "model.safetensors", tensors)
    config = {"model_type": "model2vec", "hidden_dim": WIDTH, "normalize": True}
    (directory / "config.json").write_text(json.dumps(config))
    return matrix.astype(np.float32)


def _unit(vector: np.ndarray) -> np.ndarray:
    return vector / np.linalg.norm(vector)


def test_model2vec_vector_is_the_normalised_mean_of_the_token_rows(tmp_path: Path) -> None:
    matrix = make_model(tmp_path / "model")
    embedder = from_config({"kind": "model2vec", "path": str(tmp_path / "model")})
    ids = [VOCABULARY.index(t) for t in ("reset", "password", "reset")]

    vectors = embedder.embed(["Reset PASSWORD, reset zebra!", "zebra", ""])
    again = embedder.embed(["Reset PASSWORD, reset zebra!", "zebra", ""])

    assert embedder.dimensions == WIDTH
    # Unknown words ("zebra") and punctuation add nothing; [CLS]/[SEP] are not added.
    assert np.allclose(vectors[0], _unit(matrix[ids].mean(axis=0)), atol=1e-6)
    assert np.allclose(_norms(vectors), [1, 0, 0], atol=1e-5)
    assert np.array_equal(vectors, again)


def test_model2vec_applies_per_token_weights(tmp_path: Path) -> None:
    make_model(tmp_path / "model", weights=True)
    embedder = from_config({"kind": "model2vec", "path": str(tmp_path / "model")})
    from chatmina.knowledge.embedders.safetensors import read_tensors

    tensors = read_tensors(tmp_path / "model" / "model.safetensors")
    ids = [VOCABULARY.index("refund"), VOCABULARY.index("card")]
    expected = (tensors["embeddings"][ids] * tensors["weights"][ids][:, None]).mean(axis=0)
    assert np.allclose(embedder.embed(["refund card"])[0], _unit(expected), atol=1e-6)


def test_model2vec_follows_the_token_to_row_mapping(tmp_path: Path) -> None:
    make_model(tmp_path / "model")
    rows = np.random.default_rng(3).standard_normal((4, WIDTH)).astype("<f4")
    mapping = np.arange(len(VOCABULARY), dtype="<i8") % 4  # several tokens share a row
    write_safetensors(
        tmp_path / "model" / "model.safetensors", {"embeddings": rows, "mapping": mapping}
    )
    embedder = from_config({"kind": "model2vec", "path": str(tmp_path / "model")})
    ids = [VOCABULARY.index("parcel"), VOCABULARY.index("email")]
    assert embedder.dimensions == WIDTH
    assert np.allclose(embedder.embed(["parcel email"])[0], _unit(rows[mapping[ids]].mean(0)))


def test_model2vec_large_batches_give_the_same_rows_as_single_texts(tmp_path: Path) -> None:
    make_model(tmp_path / "model")
    embedder = from_config({"kind": "model2vec", "path": str(tmp_path / "model")})
    words = VOCABULARY[4:]
    # 60 texts of 300 tokens: more than the embedder gathers in one step.
    texts = [" ".join(words[(i + j) % len(words)] for j in range(300)) for i in range(60)]
    batch = embedder.embed(texts)
    for i in (0, 27, 28, 59):
        assert np.allclose(batch[i], embedder.embed([texts[i]])[0], atol=1e-6)


def test_model2vec_texts_sharing_tokens_are_closer(tmp_path: Path) -> None:
    make_model(tmp_path / "model")
    embedder = from_config({"kind": "model2vec", "path": str(tmp_path / "model")})
    question, related, unrelated = embedder.embed(
        ["reset your password", "the password reset email link", "refund card money days"]
    )
    assert question @ related > question @ unrelated + 0.2


def test_model2vec_reads_float16_models(tmp_path: Path) -> None:
    full = make_model(tmp_path / "f32")
    make_model(tmp_path / "f16", dtype="<f2")
    texts = ["reset password email", "parcel tracking"]
    wide = from_config({"kind": "model2vec", "path": str(tmp_path / "f32")})
    half = from_config({"kind": "model2vec", "path": str(tmp_path / "f16")})
    assert np.allclose(half.embed(texts), wide.embed(texts), atol=2e-3)
    assert full.shape == (len(VOCABULARY), half.dimensions)


def test_model2vec_spec_names_the_directory_and_changes_with_the_model(tmp_path: Path) -> None:
    make_model(tmp_path / "model", seed=1)
    first = from_config({"kind": "model2vec", "path": str(tmp_path / "model")})
    same = from_config({"kind": "model2vec", "path": str(tmp_path / "model")})
    make_model(tmp_path / "model", seed=2)  # another model copied over the old one
    swapped = from_config({"kind": "model2vec", "path": str(tmp_path / "model")})

    assert first.spec.startswith(f"model2vec:{tmp_path / 'model'}/{WIDTH}#")
    assert same.spec == first.spec
    assert swapped.spec != first.spec


def _header(path: Path) -> dict[str, Any]:
    data = path.read_bytes()
    (size,) = struct.unpack("<Q", data[:8])
    return dict(json.loads(data[8 : 8 + size]))


def _rewrite_header(path: Path, change: Any) -> None:
    data = path.read_bytes()
    (size,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + size])
    change(header["embeddings"])
    encoded = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(encoded)) + encoded + data[8 + size :])


def _corrupt(directory: Path, damage: str) -> None:
    weights = directory / "model.safetensors"
    if damage == "no tokenizer":
        (directory / "tokenizer.json").unlink()
    elif damage == "bad tokenizer":
        (directory / "tokenizer.json").write_text('{"model": 42}')
    elif damage == "bad config":
        (directory / "config.json").write_text("[]")
    elif damage == "not safetensors":
        weights.write_bytes(b"\xff" * 64)
    elif damage == "truncated":
        weights.write_bytes(weights.read_bytes()[:-10])
    elif damage == "bfloat16":
        _rewrite_header(weights, lambda e: e.update(dtype="BF16"))
    elif damage == "one-dimensional":
        _rewrite_header(weights, lambda e: e.update(shape=[len(VOCABULARY) * WIDTH]))
    elif damage == "too few rows":
        m = np.zeros((3, WIDTH), dtype="<f4")
        write_safetensors(weights, {"embeddings": m})
    elif damage == "no embeddings":
        write_safetensors(weights, {"other": np.zeros((2, 2), dtype="<f4")})


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        ("no tokenizer", "has no tokenizer.json"),
        ("bad tokenizer", "tokenizer.json cannot be loaded"),
        ("bad config", "config.json is not a JSON object"),
        ("not safetensors", "cannot be read: the header length does not fit"),
        ("truncated", "points outside the file"),
        ("bfloat16", "dtype BF16"),
        ("one-dimensional", "no 2-dimensional 'embeddings' matrix"),
        ("too few rows", "has 20 tokens but model.safetensors has rows for 3"),
        ("no embeddings", "no 2-dimensional 'embeddings' matrix"),
    ],
)
def test_model2vec_unusable_directory_is_a_clear_error(
    tmp_path: Path, damage: str, expected: str
) -> None:
    make_model(tmp_path / "model")
    _corrupt(tmp_path / "model", damage)
    with pytest.raises(EmbedderError, match=expected):
        from_config({"kind": "model2vec", "path": str(tmp_path / "model")})


def test_model2vec_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(EmbedderError, match="does not exist"):
        from_config({"kind": "model2vec", "path": str(tmp_path / "nowhere")})


# -- settings and stored configurations ------------------------------------------------------


@pytest.mark.parametrize("value", ["bogus", "model2vec:", "model2vec:   ", "builtin:x", "openai:"])
def test_an_unknown_embeddings_setting_names_the_variable(value: str) -> None:
    with pytest.raises(SettingsError, match="CHATMINA_EMBEDDINGS="):
        load_settings({"CHATMINA_EMBEDDINGS": value})


@pytest.mark.parametrize(
    ("value", "parsed"),
    [("builtin", "builtin"), (" OpenAI ", "openai"), ("model2vec: /srv/m ", "model2vec:/srv/m")],
)
def test_embeddings_setting_accepts_its_three_forms(value: str, parsed: str) -> None:
    assert load_settings({"CHATMINA_EMBEDDINGS": value}).embeddings == parsed


@pytest.mark.parametrize("value", ["-1", "1.5", "9000", "lots"])
def test_embeddings_dimensions_must_be_a_sensible_whole_number(value: str) -> None:
    with pytest.raises(SettingsError, match="CHATMINA_EMBEDDINGS_DIMENSIONS"):
        load_settings({"CHATMINA_EMBEDDINGS_DIMENSIONS": value})


def test_embeddings_api_key_comes_from_a_file_and_is_masked(tmp_path: Path) -> None:
    (tmp_path / "key").write_text("sk-from-file\n")
    settings = load_settings({"CHATMINA_EMBEDDINGS_API_KEY_FILE": str(tmp_path / "key")})
    assert settings.embeddings_api_key == "sk-from-file"
    shown = {env: value for env, value, _ in settings.masked()}
    assert shown["CHATMINA_EMBEDDINGS_API_KEY"] == "********"
    assert "sk-from-file" not in repr(settings.masked())


def test_default_settings_build_the_builtin_embedder() -> None:
    embedder = from_settings(load_settings({}))
    assert embedder.spec == "builtin-v1/384"
    assert embedder.dimensions == 384


def test_openai_settings_build_an_openai_embedder(fake_openai: FakeOpenAI) -> None:
    settings = load_settings(
        {
            "CHATMINA_EMBEDDINGS": "openai",
            "CHATMINA_EMBEDDINGS_BASE_URL": fake_openai.base_url + "/",
            "CHATMINA_EMBEDDINGS_API_KEY": "sk-local",
            "CHATMINA_EMBEDDINGS_MODEL": "nomic-embed-text",
            "CHATMINA_EMBEDDINGS_DIMENSIONS": "24",
        }
    )
    embedder = from_settings(settings)
    assert embedder.embed(["hi"]).shape == (1, 24)
    assert embedder.spec == f"openai:nomic-embed-text/24@{fake_openai.base_url}"
    assert fake_openai.requests[0].headers["authorization"] == "Bearer sk-local"


def test_model2vec_settings_with_a_missing_directory_fail_clearly(tmp_path: Path) -> None:
    settings = load_settings({"CHATMINA_EMBEDDINGS": f"model2vec:{tmp_path}/gone"})
    with pytest.raises(EmbedderError, match=f"{tmp_path}/gone does not exist"):
        from_settings(settings)


def test_config_round_trip_rebuilds_the_same_vector_space(
    tmp_path: Path, fake_openai: FakeOpenAI
) -> None:
    make_model(tmp_path / "model")
    texts = ["reset your password", "parcel tracking"]
    originals = [
        from_config({"kind": "builtin"}),
        _openai(fake_openai, model="nomic-embed-text", api_key="sk-kept"),
        from_config({"kind": "model2vec", "path": str(tmp_path / "model")}),
    ]
    for original in originals:
        before = original.embed(texts)
        stored = json.loads(json.dumps(config_of(original)))  # as kept in the database
        rebuilt = from_config(stored)
        assert rebuilt.spec == original.spec
        assert rebuilt.dimensions == original.dimensions
        assert np.array_equal(rebuilt.embed(texts), before)

    # The learned size travels with the configuration: the rebuilt one did not ask again.
    assert config_of(originals[1])["api_key"] == "sk-kept"
    assert [len(r.body["input"]) for r in fake_openai.requests] == [2, 2]


@pytest.mark.parametrize(
    "config",
    [
        {},
        {"kind": "word2vec"},
        {"kind": "builtin", "version": "builtin-v0"},
        {"kind": "model2vec"},
        {"kind": "openai", "timeout": "soon"},
    ],
)
def test_an_unusable_stored_configuration_is_an_embedder_error(config: dict[str, Any]) -> None:
    with pytest.raises(EmbedderError):
        from_config(config)
