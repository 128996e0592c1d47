"""Scale: memory with 100,000 leads against a PicklePersistence bot, and the nurture scheduler.

Goals: resident memory flat in the number of leads (within 20 MB of an empty store); one
scheduler tick finds the due tips among 100,000 leads in under 50 ms; tips go out at the
configured rate against a rate-limited fake API.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pickle
import sqlite3
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path

from telegram import Update
from telegram.ext import (
    ApplicationBuilder,
    ContextTypes,
    MessageHandler,
    PicklePersistence,
    filters,
)

from bench.harness import OWNER, settings, start, stop
from bench.seed import SPAN, START, create, seed
from tests.fakeapi import FakeRequest, FakeTelegram

PROSPECTS = 200  # new people walking in while memory is measured


def rss_mb() -> float:
    """This process's resident memory, in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def aimant_child(folder: Path) -> dict[str, float]:
    """The bot on an existing store: handle a stream of new prospects and a /stats."""
    fake = FakeTelegram()
    app, svc = await start(settings(folder), fake)
    for user in range(20_000_000, 20_000_000 + PROSPECTS):
        fake.add_user(user)
        for text in ("/start flyer", "/magnets", f"x{user}@example.com"):
            update = Update.de_json(fake.build_message(user, text), app.bot)
            await app.update_processor.process_update(update, app.process_update(update))
    stats = Update.de_json(fake.build_message(OWNER, "/stats"), app.bot)
    await app.update_processor.process_update(stats, app.process_update(stats))
    await svc.nurture.tick()
    memory = rss_mb()
    await stop(app)
    return {"rss_mb": memory}


async def pickle_child(folder: Path) -> dict[str, float]:
    """The same bot shape on PicklePersistence: every lead's data in user_data, in memory."""
    fake = FakeTelegram()

    async def remember(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert context.user_data is not None and update.effective_message is not None
        context.user_data.setdefault("texts", []).append(update.effective_message.text)
        await update.effective_message.reply_text("ok")

    # on_flush: one write at flush time (the default rewrites the whole file on every update).
    persistence = PicklePersistence(folder / "baseline.pickle", update_interval=3600, on_flush=True)
    app = (
        ApplicationBuilder()
        .token("123456:PICKLE")
        .base_url("http://fake.invalid/bot")
        .request(FakeRequest(fake))
        .get_updates_request(FakeRequest(fake))
        .persistence(persistence)
        .build()
    )
    app.add_handler(MessageHandler(filters.ALL, remember))
    async with app:
        for user in range(20_000_000, 20_000_000 + PROSPECTS):
            fake.add_user(user)
            for text in ("/start flyer", "/magnets", f"x{user}@example.com"):
                update = Update.de_json(fake.build_message(user, text), app.bot)
                await app.process_update(update)
        memory = rss_mb()
        began = time.perf_counter()
        await app.update_persistence()
        await persistence.flush()
        flush = time.perf_counter() - began
    return {"rss_mb": memory, "flush_s": flush}


def pickle_data(path: Path, leads: int) -> None:
    """user_data holding what Aimant keeps per lead, the way a PTB-only bot would."""
    user_data = {
        person: {
            "first_name": f"Lead{person}",
            "language": "en",
            "source": "flyer",
            "email": f"lead{person}@example.com",
            "stage": "nurturing",
            "magnets": {"what-to-wear": {"answer": "family", "fit": True, "delivered": START}},
            "tips": {"colours": START + 86400, "phone-test": START + 4 * 86400},
            "events": [("start", START), ("lead", START + 60), ("download", START + 100)],
        }
        for person in range(1, leads + 1)
    }
    data = {"user_data": user_data, "chat_data": {}, "bot_data": {}, "conversations": {}}
    data["callback_data"] = None
    path.write_bytes(pickle.dumps(data))


def child(kind: str, folder: Path) -> dict[str, float]:
    """Run one measurement in a fresh process, so resident memory is its own."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.bench_scale", "--child", kind, "--folder", str(folder)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def _due_moment(path: Path, due: int) -> tuple[int, list[int]]:
    """A "now" at which `due` of the seeded tips are due, and who they are for.

    Read from the seeded file directly (like bench.seed writes it), not through the store.
    """
    with closing(sqlite3.connect(path)) as raw:
        # Pending tips are due 60 days after each capture: pick "now" so that `due` are due.
        pending = raw.execute(
            "SELECT due_at FROM tips WHERE state = 'pending' ORDER BY due_at LIMIT 1 OFFSET ?",
            (due,),
        ).fetchone()
        now = int(pending[0]) - 1 if pending else START + SPAN
        users = raw.execute("SELECT DISTINCT user_id FROM tips WHERE due_at <= ?", (now,))
        return now, [int(user) for (user,) in users]


async def scheduler(leads: int, due: int) -> dict[str, float]:
    """The due-tips query among `leads` leads, and tips sent against a rate-limited fake."""
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        config = settings(folder)
        await create(config.database_path)
        seed(config.database_path, leads, leads * 3)
        fake = FakeTelegram()
        fake.bulk_rate = 30  # Telegram's bulk limit, 429 above it
        fake.latency = 0.1
        app, svc = await start(config, fake)
        store = svc.store
        now, users = _due_moment(config.database_path, due)
        timings = []
        for _ in range(5):
            began = time.perf_counter()
            found = await store.tips.due(now, 500)
            timings.append((time.perf_counter() - began) * 1000)
        for user in users:
            fake.add_user(user)
        svc.clock = lambda: float(now)
        waiting = len(await store.tips.due(now, 10**6))
        began = time.perf_counter()
        sent = 0
        while sent < waiting and time.perf_counter() - began < 120:
            sent += await svc.nurture.tick()
        took = time.perf_counter() - began
        await stop(app)
    return {
        "due_ms": sorted(timings)[len(timings) // 2],
        "found": len(found),
        "tips_per_s": sent / took,
        "rate": config.bulk_rate,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--due", type=int, default=500)
    parser.add_argument("--child", choices=("aimant", "pickle"))
    parser.add_argument("--folder", type=Path)
    args = parser.parse_args()
    if args.child:
        run = aimant_child if args.child == "aimant" else pickle_child
        print(json.dumps(asyncio.run(run(args.folder))))
        return
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
        empty, full = Path(a), Path(b)
        for folder, leads in ((empty, 0), (full, args.leads)):
            database = settings(folder).database_path
            asyncio.run(create(database))
            if leads:
                seed(database, leads, leads * 10)
        rss_empty = child("aimant", empty)["rss_mb"]
        rss_full = child("aimant", full)["rss_mb"]
        pickle_data(full / "baseline.pickle", args.leads)
        baseline = child("pickle", full)
    grew = rss_full - rss_empty
    flat = "met" if grew <= 20 else "NOT met"
    print(
        f"memory: Aimant {rss_empty:.0f} MB with an empty store, {rss_full:.0f} MB with"
        f" {args.leads:,} leads (+{grew:.1f} MB; goal within 20 MB: {flat});"
        f" PicklePersistence baseline {baseline['rss_mb']:.0f} MB,"
        f" flush {baseline['flush_s']:.2f} s"
    )
    figures = asyncio.run(scheduler(args.leads, args.due))
    quick = "met" if figures["due_ms"] < 50 else "NOT met"
    print(
        f"scheduler: finding {figures['found']:.0f} due tips among {args.leads:,} leads took"
        f" {figures['due_ms']:.1f} ms (goal < 50 ms: {quick}); tips sent at"
        f" {figures['tips_per_s']:.1f}/s against a 30/s limit with 100 ms per call"
        f" (BULK_RATE {figures['rate']:g}/s -> ratio {figures['tips_per_s'] / figures['rate']:.2f})"
    )


if __name__ == "__main__":
    main()
