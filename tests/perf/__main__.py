"""Run the benchmarks: ``python -m tests.perf [startup] [login]`` (``make bench``).

Prints one JSON line per result: name, value, target, unit, ok (null when there is no
target), plus details and ``load1``, the one-minute load average when the benchmark began:
other work on the machine skews the numbers. Exits 1 when a result misses its target.
Not collected by pytest (``norecursedirs``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from tests.perf import (
    answer,
    backup,
    binary,
    conversations,
    embed,
    functions,
    kb_ingest,
    kb_search,
    login,
    startup,
    webhooks,
    widget_size,
)
from tests.perf.common import Result
from tests.perf.kb_quality import run as kb_quality

BENCHMARKS: dict[str, Callable[[], list[Result]]] = {
    "startup": startup.run,
    "login": login.run,
    "kb_ingest": kb_ingest.run,
    "kb_search": kb_search.run,
    "kb_quality": kb_quality.run,
    "embed": embed.run,
    "binary": binary.run,
    "backup": backup.run,
    "answer": answer.run,
    "conversations": conversations.run,
    "widget_size": widget_size.run,
    "functions": functions.run,
    "webhooks": webhooks.run,
}


def main(names: list[str]) -> int:
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
        return 2
    missed = 0
    for name in names or list(BENCHMARKS):
        # Other work on the machine skews every number: say how busy it was.
        load = round(os.getloadavg()[0], 2)
        for result in BENCHMARKS[name]():
            result.extra["load1"] = load
            print(result.line(), flush=True)
            missed += result.ok is False
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
