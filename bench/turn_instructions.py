"""Instructions a turn, counted by valgrind: for judging a change to the turn's path, A against B.

Run: ``.venv/bin/python bench/turn_instructions.py [turns]`` (needs valgrind: ``apt-get install
valgrind``; about four minutes).

On this shared machine the clock drifts by a third within minutes, and so do turns/s and even CPU
time a turn: a change of a few per cent cannot be seen in them. The number of instructions a run
executes hardly moves (a few parts in ten thousand between runs). Two runs under callgrind, side
by side: start-up and 500 turns, then the same and ``turns`` more (default 2,000), SQLite with
``synchronous=FULL``, 256 reporters walking the flow as in ``turn_bench.py``; the difference over
``turns`` is the instructions a turn. Not a target: run it on the old and the new code.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, ".")

from turn_bench import Walkers, concurrent_turns, keys

from bot.inbox import Inbox
from flows.loader import load_flows
from storage.crypto import Crypto
from storage.db import Database
from storage.migrate import upgrade

WARM_UP = 500
COLLECTED = re.compile(rb"Collected : (\d+)")


def turns_in_process(turns: int) -> None:
    """What each counted run does: start, warm up, then ``turns`` more."""
    with tempfile.TemporaryDirectory() as directory:
        url = f"sqlite:///{directory}/bench.db"
        upgrade(url)
        database = Database(url)
        inbox = Inbox(database, Crypto.from_keys(keys()), load_flows())
        walkers = Walkers("i")
        asyncio.run(concurrent_turns(inbox, walkers, WARM_UP))
        if turns:
            asyncio.run(concurrent_turns(inbox, walkers, turns))
        database.dispose()


def instructions(turns: int) -> int:
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise SystemExit("valgrind is not installed (apt-get install valgrind)")
    run = subprocess.run(
        [
            valgrind,
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            sys.executable,
            __file__,
            "--child",
            str(turns),
        ],
        capture_output=True,
        check=True,
    )
    found = COLLECTED.search(run.stderr)
    if found is None:
        raise RuntimeError("valgrind did not report the instructions counted")
    return int(found.group(1))


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        turns_in_process(int(sys.argv[2]))
        return
    turns = int(sys.argv[1]) if len(sys.argv) > 1 else 2_000
    with ThreadPoolExecutor(2) as pool:
        base, counted = pool.map(instructions, (0, turns))
    print(f"start-up and {WARM_UP} turns      {base / 1e6:12,.1f} M instructions")
    print(f"the same and {turns:,} more   {counted / 1e6:12,.1f} M instructions")
    print(f"a turn                     {(counted - base) / turns / 1e3:12,.1f} k instructions")


if __name__ == "__main__":
    main()
