"""Inbound: N prospects walk the whole funnel through the real Application and store.

Compared, in the same run and against the same in-process fake Bot API, with a bare PTB bot
(one echo handler) - the framework's own ceiling. Goal: at least 0.5 of bare PTB's throughput.
Then the p99 reply latency while a 10,000-lead broadcast runs, against the idle p99 (goal <= 2).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from telegram import Update
from telegram.ext import (
    ApplicationBuilder,
    CallbackQueryHandler,
    ContextTypes,
    MessageHandler,
    SimpleUpdateProcessor,
    filters,
)

from bench.harness import OWNER, settings, start, stop
from bench.seed import create, seed
from tests.fakeapi import FakeRequest, FakeTelegram

FIRST_USER = 10_000_000  # far from the seeded leads' ids


def steps(fake: FakeTelegram, user: int) -> list[Callable[[], dict[str, Any]]]:
    """One prospect's updates, built when sent: deep link, email, answer button, menu."""
    fake.add_user(user)
    return [
        lambda: fake.build_message(user, "/start instagram__what-to-wear"),
        lambda: fake.build_message(user, f"p{user}@example.com"),
        lambda: fake.build_callback(user, "ans:what-to-wear:family", check=False),
        lambda: fake.build_message(user, "/magnets"),
    ]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def drive(app: Any, fake: FakeTelegram, users: range) -> tuple[float, list[float]]:
    """Every user walks their steps in order, all users at once; (updates/s, latencies ms)."""
    latencies: list[float] = []

    async def walk(user: int) -> None:
        for step in steps(fake, user):
            parsed = Update.de_json(step(), app.bot)
            began = time.perf_counter()
            await app.update_processor.process_update(parsed, app.process_update(parsed))
            latencies.append((time.perf_counter() - began) * 1000)

    began = time.perf_counter()
    await asyncio.gather(*(walk(u) for u in users))
    took = time.perf_counter() - began
    return len(latencies) / took, latencies


async def aimant(users: int, latency: float) -> tuple[float, list[float]]:
    with tempfile.TemporaryDirectory() as folder:
        fake = FakeTelegram()
        fake.latency = latency
        app, _ = await start(settings(Path(folder)), fake)
        result = await drive(app, fake, range(FIRST_USER, FIRST_USER + users))
        await stop(app)
    return result


async def bare(users: int, latency: float) -> tuple[float, list[float]]:
    fake = FakeTelegram()
    fake.latency = latency

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if update.callback_query:
            await update.callback_query.answer()
        elif update.effective_message and update.effective_message.text:
            await update.effective_message.reply_text(update.effective_message.text)

    app = (
        ApplicationBuilder()
        .token("123456:BARE-token")
        .base_url("http://fake.invalid/bot")
        .request(FakeRequest(fake))
        .get_updates_request(FakeRequest(fake))
        .concurrent_updates(SimpleUpdateProcessor(64))
        .build()
    )
    app.add_handler(MessageHandler(filters.ALL, echo))
    app.add_handler(CallbackQueryHandler(echo))
    async with app:
        result = await drive(app, fake, range(FIRST_USER, FIRST_USER + users))
    return result


async def under_broadcast(
    users: int, leads: int, latency: float
) -> tuple[list[float], list[float]]:
    """Reply latencies idle, then while a broadcast to `leads` leads is sending."""
    with tempfile.TemporaryDirectory() as folder:
        config = settings(Path(folder))
        await create(config.database_path)
        seed(config.database_path, int(leads / 0.57), leads, seed_value=3)
        fake = FakeTelegram()
        fake.latency = latency
        app, svc = await start(config, fake)
        for user in range(1, int(leads / 0.57) + 1):
            fake.add_user(user)
        _, idle = await drive(app, fake, range(FIRST_USER, FIRST_USER + users))
        store = svc.store
        broadcast_id = await store.broadcasts.create(OWNER, "News", ["all"])
        await store.broadcasts.choose_segment(broadcast_id, "all")
        audience = await store.broadcasts.start(broadcast_id, paid=False)
        svc.broadcaster.launch(broadcast_id)
        await asyncio.sleep(2)  # well under way
        second = range(FIRST_USER + users, FIRST_USER + 2 * users)
        _, busy = await drive(app, fake, second)
        sent = (await store.broadcasts.progress(broadcast_id)).get("sent", 0)
        svc.broadcaster.cancel(broadcast_id)
        await stop(app)
        print(f"  (broadcast to {audience:,} leads running: {sent:,} sent meanwhile)")
    return idle, busy


def main() -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=300)
    parser.add_argument("--leads", type=int, default=10_000)
    args = parser.parse_args()
    ours, our_latencies = asyncio.run(aimant(args.users, 0.0))
    ceiling, bare_latencies = asyncio.run(bare(args.users, 0.0))
    ratio = ours / ceiling
    ours_p50, ours_p99 = statistics.median(our_latencies), percentile(our_latencies, 0.99)
    bare_p50, bare_p99 = statistics.median(bare_latencies), percentile(bare_latencies, 0.99)
    print(
        f"funnel, {args.users} prospects x 4 updates, no API latency: Aimant {ours:.0f} updates/s"
        f" (p50 {ours_p50:.1f} ms, p99 {ours_p99:.1f} ms) vs bare PTB {ceiling:.0f} updates/s"
        f" (p50 {bare_p50:.1f} ms, p99 {bare_p99:.1f} ms) -> ratio {ratio:.2f}"
        f" (goal >= 0.5: {'met' if ratio >= 0.5 else 'NOT met'})"
    )
    idle, busy = asyncio.run(under_broadcast(args.users // 3, args.leads, 0.1))
    p99_idle, p99_busy = percentile(idle, 0.99), percentile(busy, 0.99)
    slowdown = p99_busy / p99_idle
    print(
        f"reply latency with 100 ms per API call: p99 idle {p99_idle:.0f} ms, during a"
        f" {args.leads:,}-lead broadcast {p99_busy:.0f} ms -> ratio {slowdown:.2f}"
        f" (goal <= 2: {'met' if slowdown <= 2 else 'NOT met'})"
    )
    return {"funnel_ratio": ratio, "broadcast_latency_ratio": slowdown}


if __name__ == "__main__":
    main()
