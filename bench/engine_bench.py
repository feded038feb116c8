"""The engine alone: median step time, and memory across 100,000 turns in 10,000 conversations.

Run: ``make bench`` (or ``.venv/bin/python bench/engine_bench.py``). Times are compared with a
baseline measured in the same run on the same machine: a JSON round trip of the same snapshot,
which the inbox does on every turn anyway. Memory is traced with tracemalloc after two passes of
100,000 turns each: every conversation goes through the same ten-turn script (which ends by
restarting) once per pass, so with models detached after every step the second pass ends where the
first did.
"""

from __future__ import annotations

import gc
import json
import statistics
import sys
import time
import tracemalloc
from typing import Any

sys.path.insert(0, ".")

from flows import engine
from flows.loader import load_flows
from flows.types import UserInput

CONVERSATIONS = 10_000
TURNS = 100_000
SCRIPT = [  # ten turns, ending with a restart, so every pass leaves the same snapshots
    UserInput.typed("halo"),
    UserInput.pressed("welcome:start"),
    UserInput.pressed("danger:no"),
    UserInput.pressed("consent:agree"),
    UserInput.typed("saya sendiri"),
    UserInput.pressed("victim_age:adult"),
    UserInput.pressed("victim_gender:female"),
    UserInput.pressed("category:physical"),
    UserInput.pressed("ongoing:yes"),
    UserInput.typed("ulang"),
]


def median_ns(function: Any, rounds: int = 20_000) -> float:
    samples = []
    for _ in range(rounds):
        started = time.perf_counter_ns()
        function()
        samples.append(time.perf_counter_ns() - started)
    return statistics.median(samples)


def main() -> None:
    flows = load_flows()
    snapshot = None
    for user_input in SCRIPT[:8]:
        snapshot = engine.step(flows, snapshot, user_input).snapshot
    ongoing = UserInput.pressed("ongoing:yes")
    step_ns = median_ns(lambda: engine.step(flows, snapshot, ongoing))
    typed = UserInput.typed("tidak yakin")
    typed_ns = median_ns(lambda: engine.step(flows, snapshot, typed))
    baseline_ns = median_ns(lambda: json.loads(json.dumps(snapshot)))

    snapshots: dict[int, dict[str, Any] | None] = {}
    tracemalloc.start()
    after: list[int] = []
    for _ in range(2):
        for turn in range(TURNS):
            conversation = turn % CONVERSATIONS
            user_input = SCRIPT[(turn // CONVERSATIONS) % len(SCRIPT)]
            snapshots[conversation] = engine.step(
                flows, snapshots.get(conversation), user_input
            ).snapshot
        gc.collect()
        after.append(tracemalloc.get_traced_memory()[0])
    tracemalloc.stop()
    halfway, last = after
    attached = sum(len(machine.models) for machine in flows.machines.values())

    print(f"median step (button)        {step_ns / 1000:8.1f} µs  (target ≤ 50 µs)")
    print(f"median step (typed label)   {typed_ns / 1000:8.1f} µs")
    print(f"baseline JSON round trip    {baseline_ns / 1000:8.1f} µs")
    print(f"ratio step / baseline       {step_ns / baseline_ns:8.2f}")
    print(f"traced memory after {TURNS:,} turns  {halfway / 1e6:8.1f} MB")
    print(f"traced memory after {2 * TURNS:,} turns  {last / 1e6:8.1f} MB")
    print(f"growth ratio                {last / halfway:8.3f}  (target ≈ 1: flat)")
    print(f"models still attached       {attached:8d}  (target 0)")


if __name__ == "__main__":
    main()
