"""Inbound: N prospects walk the whole funnel through the real Application and store.

Compared, in the same run and against the same in-process fake Bot API, with a bare PTB bot
(one echo handler) - the framework's own ceiling: throughput (goal: at least 0.5 of bare PTB's)
and the CPU one update costs (process time, every thread, over the run / updates). There the
replies' per-chat pacing is off, as in the tests (tests/conftest.py): the in-process fake
enforces no per-chat limit, and each prospect here sends its 4 updates within milliseconds,
so the pacing would hold the 4th to 6th message of every chat about a second and the figure
would be Telegram's per-chat limit, not the bot's work (`--chat-pacing` keeps it on).
Then the p99 reply latency while a 10,000-lead broadcast runs, against the idle p99 (goal <= 2).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

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
from bot.telegram import replies
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


def describe(run: Run) -> str:
    """Throughput, CPU per update and latency of one run, in one line."""
    p50, p99 = statistics.median(run.latencies), percentile(run.latencies, 0.99)
    return (
        f"{run.per_second:,.0f} updates/s, {run.cpu_ms:.2f} ms CPU per update"
        f" (p50 {p50:.1f} ms, p99 {p99:.1f} ms)"
    )


def met(ok: bool) -> str:
    """How a figure stands against its target."""
    return "met" if ok else "NOT met"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Run(NamedTuple):
    """One inbound run: throughput, CPU per update and every update's latency."""

    per_second: float
    cpu_ms: float  # process time (all threads: aiosqlite's too) per update
    latencies: list[float]  # ms


async def drive(app: Any, fake: FakeTelegram, users: range) -> Run:
    """Every user walks their steps in order, all users at once."""
    latencies: list[float] = []

    async def walk(user: int) -> None:
        for step in steps(fake, user):
            parsed = Update.de_json(step(), app.bot)
            began = time.perf_counter()
            await app.update_processor.process_update(parsed, app.process_update(parsed))
            latencies.append((time.perf_counter() - began) * 1000)

    began, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(walk(u) for u in users))
    took, cpu = time.perf_counter() - began, time.process_time() - cpu
    return Run(len(latencies) / took, cpu * 1000 / len(latencies), latencies)


@contextlib.contextmanager
def chat_pacing(on: bool) -> Iterator[None]:
    """The replies' per-chat pacing on, or off like in the tests (no reply waits its turn)."""
    kept = replies.CHAT_MAX_WAIT
    if not on:
        replies.CHAT_MAX_WAIT = 0.0
    try:
        yield
    finally:
        replies.CHAT_MAX_WAIT = kept


async def aimant(users: int, latency: float, paced: bool = False) -> Run:
    with tempfile.TemporaryDirectory() as folder, chat_pacing(paced):
        fake = FakeTelegram()
        fake.latency = latency
        app, _ = await start(settings(Path(folder)), fake)
        result = await drive(app, fake, range(FIRST_USER, FIRST_USER + users))
        await stop(app)
    return result


async def bare(users: int, latency: float) -> Run:
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
        idle = (await drive(app, fake, range(FIRST_USER, FIRST_USER + users))).latencies
        store = svc.store
        broadcast_id = await store.broadcasts.create(OWNER, "News", ["all"])
        await store.broadcasts.choose_segment(broadcast_id, "all")
        audience = await store.broadcasts.start(broadcast_id, paid=False)
        svc.broadcaster.launch(broadcast_id)
        await asyncio.sleep(2)  # well under way
        second = range(FIRST_USER + users, FIRST_USER + 2 * users)
        busy = (await drive(app, fake, second)).latencies
        sent = (await store.broadcasts.progress(broadcast_id)).get("sent", 0)
        svc.broadcaster.cancel(broadcast_id)
        await stop(app)
        print(f"  (broadcast to {audience:,} leads running: {sent:,} sent meanwhile)")
    return idle, busy


def main() -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=300)
    parser.add_argument("--leads", type=int, default=10_000)
    parser.add_argument("--inbound-only", action="store_true", help="skip the broadcast part")
    parser.add_argument(
        "--chat-pacing", action="store_true", help="keep the per-chat reply pacing in the funnel"
    )
    args = parser.parse_args()
    ours = asyncio.run(aimant(args.users, 0.0, args.chat_pacing))
    ceiling = asyncio.run(bare(args.users, 0.0))
    ratio = ours.per_second / ceiling.per_second
    print(
        f"funnel, {args.users} prospects x 4 updates, no API latency, per-chat reply pacing"
        f" {'on' if args.chat_pacing else 'off'}:\n"
        f"  Aimant   {describe(ours)}\n  bare PTB {describe(ceiling)}\n"
        f"  -> throughput ratio {ratio:.2f} (target >= 0.25: {met(ratio >= 0.25)};"
        f" goal >= 0.5: {met(ratio >= 0.5)});"
        f" CPU per update {ours.cpu_ms:.2f} ms vs {ceiling.cpu_ms:.2f} ms"
        f" ({ours.cpu_ms / ceiling.cpu_ms:.1f}x bare PTB; target <= 1.2 ms:"
        f" {met(ours.cpu_ms <= 1.2)})"
    )
    figures = {"funnel_ratio": ratio, "funnel_cpu_ms": ours.cpu_ms, "bare_cpu_ms": ceiling.cpu_ms}
    if args.inbound_only:
        return figures
    idle, busy = asyncio.run(under_broadcast(args.users // 3, args.leads, 0.1))
    p99_idle, p99_busy = percentile(idle, 0.99), percentile(busy, 0.99)
    slowdown = p99_busy / p99_idle
    print(
        f"reply latency with 100 ms per API call: p99 idle {p99_idle:.0f} ms, during a"
        f" {args.leads:,}-lead broadcast {p99_busy:.0f} ms -> ratio {slowdown:.2f}"
        f" (goal <= 2: {'met' if slowdown <= 2 else 'NOT met'})"
    )
    return {**figures, "broadcast_latency_ratio": slowdown}


if __name__ == "__main__":
    main()
