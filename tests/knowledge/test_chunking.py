"""Chunking: exact offsets, heading paths, block-aware cuts, overlap only within a section.

The property test builds hundreds of random help articles from known parts, so it knows
where every section and heading is without parsing Markdown itself, and checks every chunk
against that.
"""

from __future__ import annotations

import itertools
import random
import re
from dataclasses import dataclass, field

import pytest

from chatmina.knowledge.chunking import Chunk, chunk_markdown

WORDS = re.findall(
    r"\w+",
    "refund invoice account password billing team plan upgrade export login reset card order "
    "shipping parcel tracking the a to of and your we you can click settings page within days",
)


@dataclass
class Article:
    """A generated document and what the generator knows about it."""

    body: str = ""
    section_of: list[int] = field(default_factory=list)  # per character: its section number
    paths: list[tuple[str, ...]] = field(default_factory=list)  # per section
    heading_ends: list[int] = field(default_factory=list)

    def add(self, text: str, separator: str) -> None:
        if self.body:
            self.body += separator
            self.section_of += [len(self.paths) - 1] * len(separator)
        self.body += text
        self.section_of += [len(self.paths) - 1] * len(text)


class Writer:
    def __init__(self, seed: int, max_chars: int) -> None:
        self.rng = random.Random(seed)
        self.max_chars = max_chars

    def sentence(self) -> str:
        rng = self.rng
        words = [rng.choice(WORDS) for _ in range(rng.randint(3, 16))]
        if rng.random() < 0.03:
            words.insert(rng.randint(0, len(words)), "x" * rng.randint(10, self.max_chars * 2))
        end = rng.choice([".", ".", ".", "!", "?", "\u2026", '."', ".)"])
        return " ".join(words).capitalize() + end

    def paragraph(self) -> str:
        rng = self.rng
        count = rng.randint(1, 4) if rng.random() < 0.8 else rng.randint(10, 40)
        text = " ".join(self.sentence() for _ in range(count))
        if rng.random() < 0.3:  # soft-wrapped, as people write Markdown by hand
            text = re.sub(r"(\S+ \S+ \S+ \S+ \S+ \S+ \S+) ", r"\1\n", text)
        return text

    def list_block(self) -> str:
        rng = self.rng
        count = rng.randint(1, 5) if rng.random() < 0.8 else rng.randint(20, 60)
        items = []
        for number in range(1, count + 1):
            marker = rng.choice(["- ", "* ", f"{number}. ", "  - "])
            items.append(marker + self.sentence())
        return "\n".join(items)

    def table(self) -> str:
        rng = self.rng
        rows = rng.randint(1, 4) if rng.random() < 0.7 else rng.randint(30, 80)
        lines = ["| Plan | Price |", "| --- | --- |"]
        lines += [f"| {self.sentence()} | {rng.randint(1, 99)} EUR |" for _ in range(rows)]
        return "\n".join(lines)

    def code(self) -> str:
        rng = self.rng
        fence = rng.choice(["```", "````", "~~~"])
        lines = [
            rng.choice(["# a comment, not a heading", "## nor this", "x = 1", "", "  indented"])
            for _ in range(rng.randint(1, 8) if rng.random() < 0.8 else rng.randint(40, 90))
        ]
        return f"{fence}{rng.choice(['', 'sh', 'python'])}\n" + "\n".join(lines) + f"\n{fence}"

    def article(self) -> Article:
        rng = self.rng
        article = Article(paths=[()])
        stack: list[tuple[int, str]] = []
        for _ in range(rng.randint(1, 14)):
            separator = rng.choice(["\n\n", "\n\n", "\n\n\n", "\n  \n", "\r\n\r\n"])
            kind = rng.random()
            if kind < 0.3:
                level = rng.randint(1, 4)
                title = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 4))).title()
                while stack and stack[-1][0] >= level:
                    stack.pop()
                stack.append((level, title))
                article.paths.append(tuple(t for _, t in stack))
                article.add("#" * level + " " + title + rng.choice(["", " ", " #"]), separator)
                article.heading_ends.append(len(article.body))
                if rng.random() < 0.15:  # a heading with its text on the very next line
                    article.add(self.paragraph(), "\n")
            else:
                maker = rng.choice(
                    [self.paragraph, self.paragraph, self.list_block, self.table, self.code]
                )
                article.add(maker(), separator)
        if rng.random() < 0.2:
            article.add("", rng.choice(["\n", "\n\n  \n"]))
        return article


def word_run_length(body: str, at: int) -> int:
    start = at
    while start > 0 and not body[start - 1].isspace():
        start -= 1
    end = at
    while end < len(body) and not body[end].isspace():
        end += 1
    return end - start


def check(article: Article, chunks: list[Chunk], max_chars: int, overlap: int) -> None:
    body = article.body
    covered = [False] * len(body)
    for index, chunk in enumerate(chunks):
        assert chunk.text == body[chunk.start : chunk.end]
        assert 0 < len(chunk.text) <= max_chars
        assert chunk.text == chunk.text.strip(), "chunks carry no outer whitespace"
        section = article.section_of[chunk.end - 1]
        assert chunk.heading_path == article.paths[section]
        for i in range(chunk.start, chunk.end):
            covered[i] = True
        if chunk.end < len(body) and not body[chunk.end].isspace():
            # A cut through a word only when no whole word fits: the word is over a chunk.
            assert word_run_length(body, chunk.end) > max_chars, repr(chunk.text[-40:])
        if chunk.end in article.heading_ends:
            assert not body[chunk.end :].strip() or all(
                article.section_of[i] != section for i in range(chunk.end, len(body))
            ), "a heading ended a chunk although its text follows"
        if index:
            previous = chunks[index - 1]
            assert previous.start < chunk.start and previous.end < chunk.end
            if article.section_of[previous.end - 1] != section:
                assert chunk.start >= previous.end, "overlap across sections"
            elif chunk.start < previous.end:
                assert previous.end - chunk.start <= overlap
                assert body[chunk.start - 1].isspace(), "overlap starts on whole text"
    missed = [i for i, c in enumerate(body) if not c.isspace() and not covered[i]]
    assert not missed, f"text not in any chunk at {missed[:5]}"


@pytest.mark.parametrize("seed", range(400))
def test_chunks_of_generated_articles_keep_every_promise(seed: int) -> None:
    rng = random.Random(seed)
    max_chars = rng.choice([80, 200, 400, 800, 1200, 1500])
    overlap = rng.choice([0, max_chars // 10, max_chars // 4, max_chars // 3])
    article = Writer(seed, max_chars).article()
    chunks = chunk_markdown(article.body, max_chars=max_chars, overlap=overlap)
    check(article, chunks, max_chars, overlap)


# -- examples ------------------------------------------------------------------------------


def test_each_chunk_carries_the_headings_above_it() -> None:
    body = (
        "Welcome to the help center.\n\n# Billing\n\n## Refunds\n\nRefunds take five days.\n\n"
        "## Invoices\n\nInvoices are emailed.\n\n# Shipping\n\nWe ship worldwide."
    )
    chunks = chunk_markdown(body)
    assert [(c.heading_path, c.text) for c in chunks] == [
        ((), "Welcome to the help center."),
        (("Billing", "Refunds"), "# Billing\n\n## Refunds\n\nRefunds take five days."),
        (("Billing", "Invoices"), "## Invoices\n\nInvoices are emailed."),
        (("Shipping",), "# Shipping\n\nWe ship worldwide."),
    ]


def test_hashes_inside_code_fences_are_not_headings() -> None:
    body = "# Install\n\n```sh\n# download it\ncurl -O https://x.test/tool\n```\n\nDone."
    (chunk,) = chunk_markdown(body)
    assert chunk.heading_path == ("Install",)
    assert chunk.text == body


def test_a_long_paragraph_is_cut_between_sentences_with_whole_sentence_overlap() -> None:
    sentences = [f"Sentence {i} explains one more detail of refunds." for i in range(40)]
    body = "## Refunds\n\n" + " ".join(sentences)
    chunks = chunk_markdown(body, max_chars=300, overlap=80)
    assert len(chunks) > 5
    assert chunks[0].text.startswith("## Refunds\n\nSentence 0")
    for previous, chunk in itertools.pairwise(chunks):
        assert previous.text.endswith("refunds.")
        assert chunk.text.startswith("Sentence ")
        assert chunk.start < previous.end, "consecutive chunks of a section overlap"
        assert previous.text.endswith(body[chunk.start : previous.end])


def test_a_long_table_is_cut_between_rows() -> None:
    rows = "\n".join(f"| Plan {i} | {i * 3} EUR per month |" for i in range(60))
    body = "# Prices\n\n| Plan | Price |\n| --- | --- |\n" + rows
    chunks = chunk_markdown(body, max_chars=250, overlap=60)
    assert len(chunks) > 4
    for chunk in chunks:
        for line in chunk.text.splitlines()[2 if chunk is chunks[0] else 0 :]:
            assert line.startswith("| ") and line.endswith(" |"), line


def test_a_heading_stays_with_the_start_of_an_oversized_block() -> None:
    code = "```\n" + "\n".join(f"step {i}" for i in range(100)) + "\n```"
    chunks = chunk_markdown("# Setup\n\n" + code, max_chars=200, overlap=0)
    assert chunks[0].text.startswith("# Setup\n\n```\nstep 0\n")
    assert all(c.heading_path == ("Setup",) for c in chunks)


def test_a_word_longer_than_a_chunk_is_the_only_thing_cut_mid_word() -> None:
    token = "k" * 250
    body = f"Your key is {token} and it expires soon."
    chunks = chunk_markdown(body, max_chars=100, overlap=20)
    assert "".join(c.text for c in chunks if c.text.startswith("k")).count("k") >= 250
    assert chunks[0].text == "Your key is"
    assert chunks[-1].text.endswith("expires soon.")


def test_overlap_never_crosses_into_the_next_section() -> None:
    long_text = " ".join(f"Fact {i} about the plan." for i in range(30))
    body = f"# Plans\n\n{long_text}\n\n# Support\n\nWrite to us."
    chunks = chunk_markdown(body, max_chars=200, overlap=100)
    support = [c for c in chunks if c.heading_path == ("Support",)]
    assert [c.text for c in support] == ["# Support\n\nWrite to us."]
    plans = [c for c in chunks if c.heading_path == ("Plans",)]
    assert all("Support" not in c.text for c in plans)


def test_empty_text_has_no_chunks_and_bad_sizes_are_refused() -> None:
    assert chunk_markdown("") == []
    assert chunk_markdown(" \n\n\t\n") == []
    with pytest.raises(ValueError, match="overlap smaller than max_chars"):
        chunk_markdown("text", max_chars=100, overlap=100)
    with pytest.raises(ValueError):
        chunk_markdown("text", max_chars=0)
