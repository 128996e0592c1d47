"""The team inbox: time from a prospect's message to its copy in the owner's chat.

Prospects write while the bot runs (each message handled by the real Application, queued in
the SQLite outbox, copied by the inbox sender under a header), 100 ms per API call; p50 and p99
idle, then while a 10,000-lead broadcast is sending. A relay into an owner's chat takes two
Telegram round trips (the header, then the copy: 200 ms here); the p99 is shown against them.
Goal: a broadcast slows it by at most 2x.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from telegram import Update

from bench.bench_funnel import percentile
from bench.harness import OWNER, settings, start, stop
from bench.seed import create, seed
from bot.fakeapi import FakeTelegram
from bot.fakeapi.records import JSON, Sent

FIRST_USER = 30_000_000


class TimedFake(FakeTelegram):
    """The fake, noting when each copy reached the owner's chat."""

    def __init__(self) -> None:
        super().__init__()
        self.copied: dict[str, float] = {}

    def _record(
        self, name: str, msg: JSON, d: JSON, html: str, file: tuple[str, bytes] | None = None
    ) -> Sent:
        sent = super()._record(name, msg, d, html, file)
        if name == "copyMessage" and sent.chat_id == OWNER:
            self.copied[sent.text] = time.perf_counter()
        return sent


async def write(app: Any, fake: TimedFake, people: range, messages: int) -> list[float]:
    """Each person writes `messages` questions, a little apart, everyone at once; ms from each
    message reaching the bot to its copy in the owner's chat."""
    began: dict[str, float] = {}
    rng = random.Random(5)

    async def person(user: int) -> None:
        fake.add_user(user)
        await asyncio.sleep(rng.random() * 3)  # people do not all write in the same instant
        for n in range(messages):
            text = f"question {n} from {user}"
            parsed = Update.de_json(fake.build_message(user, text), app.bot)
            began[text] = time.perf_counter()
            await app.update_processor.process_update(parsed, app.process_update(parsed))
            await asyncio.sleep(0.3)

    await asyncio.gather(*(person(u) for u in people))
    deadline = time.perf_counter() + 120
    while len(fake.copied.keys() & began.keys()) < len(began) and time.perf_counter() < deadline:
        await asyncio.sleep(0.05)
    return [(fake.copied[t] - began[t]) * 1000 for t in began if t in fake.copied]


async def run(people: int, messages: int, leads: int) -> tuple[list[float], list[float], int]:
    """Latencies idle, then during a broadcast to `leads` leads (and how many it sent)."""
    with tempfile.TemporaryDirectory() as folder:
        config = settings(Path(folder))
        await create(config.database_path)
        seed(config.database_path, int(leads / 0.57), leads, seed_value=3)
        fake = TimedFake()
        fake.latency = 0.1
        app, svc = await start(config, fake)
        for user in range(1, int(leads / 0.57) + 1):
            fake.add_user(user)
        idle = await write(app, fake, range(FIRST_USER, FIRST_USER + people), messages)
        store = svc.store
        broadcast_id = await store.create_broadcast(OWNER, "News", ["all"])
        await store.choose_segment(broadcast_id, "all")
        await store.start_broadcast(broadcast_id, paid=False)
        svc.broadcaster.launch(broadcast_id)
        await asyncio.sleep(2)  # well under way
        second = range(FIRST_USER + people, FIRST_USER + 2 * people)
        busy = await write(app, fake, second, messages)
        sent = (await store.broadcast_progress(broadcast_id)).get("sent", 0)
        svc.broadcaster.cancel(broadcast_id)
        await stop(app)
    return idle, busy, sent


def main() -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--people", type=int, default=30)
    parser.add_argument("--messages", type=int, default=3)
    parser.add_argument("--leads", type=int, default=10_000)
    args = parser.parse_args()
    idle, busy, sent = asyncio.run(run(args.people, args.messages, args.leads))
    total = args.people * args.messages
    for name, values in (("idle", idle), (f"during a {args.leads:,}-lead broadcast", busy)):
        print(
            f"prospect message -> copy in the owner's chat, {args.people} people x"
            f" {args.messages} messages, 100 ms per API call, {name}: {len(values)}/{total}"
            f" copied, p50 {statistics.median(values):.0f} ms,"
            f" p99 {percentile(values, 0.99):.0f} ms"
        )
    ratio = percentile(busy, 0.99) / percentile(idle, 0.99)
    p99 = percentile(idle, 0.99)
    print(f"  p99 idle {p99:.0f} ms: two round trips (200 ms) + {p99 - 200:.0f} ms of the bot")
    print(
        f"  ({sent:,} broadcast messages sent meanwhile) p99 during the broadcast / idle:"
        f" {ratio:.2f} (goal <= 2: {'met' if ratio <= 2 else 'NOT met'})"
    )
    return {"inbox_p99_idle": percentile(idle, 0.99), "inbox_broadcast_ratio": ratio}


if __name__ == "__main__":
    main()
