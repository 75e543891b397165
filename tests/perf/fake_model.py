"""The fake model in a process of its own, for the answer benchmarks.

    python -m tests.perf.fake_model TOKENS_PER_SECOND

Prints its base URL, then serves until its standard input closes. ``GET /v1/stats`` gives
the model's own time to first token for every stream so far (seconds), which the
benchmark subtracts to get Chatmina's own share.
"""

from __future__ import annotations

import sys

from tests.fakes.openai_server import FakeOpenAI, Reply, Request


def _stats(fake: FakeOpenAI, request: Request) -> Reply:
    return Reply(body={"first_token_times": list(fake.first_token_times)})


def main() -> None:
    with FakeOpenAI() as fake:
        fake.tokens_per_second = float(sys.argv[1])
        fake.routes[("GET", "/v1/stats")] = _stats
        print(fake.base_url, flush=True)
        sys.stdin.read()


if __name__ == "__main__":
    main()
