"""Several processes on PostgreSQL: funnel throughput and p99 reply latency for one process on
SQLite and one, two and three on PostgreSQL (webhook mode, updates POSTed round robin), then a
broadcast sent by three processes against a strict Telegram; the CPU each process used.

Every run is real processes (`python -m bot`) against the fake Bot API over HTTP with 100 ms per
call; the fake and the poster (Telegram's side) run in this process and are measured too. On a
2-core machine the processes, PostgreSQL and the fake share the cores: the scaling figure is
bounded by them, which the CPU columns show.

.venv/bin/python -m bench.bench_cluster            # the README's figures
.venv/bin/python -m bench.bench_cluster --quick    # a smaller run, under a minute
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.seed import create, seed
from bot.ops.dbcopy import copy_sqlite_to_postgres
from tests.cluster import Cluster, Poster, Replies, cpu_seconds, text_of, walk
from tests.fakeapi import FakeTelegram, FakeTelegramServer
from tests.fakeapi.records import busiest_second
from tests.pgserver import PgServer

OWNER = 777
FIRST_PROSPECT = 50_000_000  # far from the seeded leads' ids
NEWS = "Big news for everyone"


@dataclass
class Funnel:
    """One funnel run: throughput, latency, and CPU seconds by whom."""

    label: str
    updates: int
    seconds: float
    latencies: list[float]  # seconds, POST to the bot's first message in answer
    cpu: dict[str, float]  # process name (p1..., postgres, telegram) -> CPU seconds
    errors: list[str]  # ERROR lines the processes logged

    @property
    def per_second(self) -> float:
        return self.updates / self.seconds

    def p(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def pg_cpu(server: PgServer) -> float:
    """CPU seconds of the PostgreSQL server: the postmaster, its reaped and its live children."""
    try:
        pid = int((server.data / "postmaster.pid").read_text().split()[0])
        stat = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except (OSError, ValueError, IndexError):
        return 0.0
    tick = os.sysconf("SC_CLK_TCK")
    total = sum(int(stat[i]) for i in (11, 12, 13, 14)) / tick  # utime stime cutime cstime
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                total += (int(fields[11]) + int(fields[12])) / tick
    return total


@contextmanager
def database(kind: str, pg: PgServer | None, folder: Path) -> Iterator[dict[str, str]]:
    """Settings of a fresh database: a SQLite file, or a new PostgreSQL database."""
    if kind == "sqlite":
        yield {"DATABASE_PATH": str(folder / "aimant.sqlite3")}
        return
    assert pg is not None
    name = pg.create_database()
    try:
        yield {"DATABASE_URL": pg.url(name)}
    finally:
        pg.drop_database(name)


def cpu_now(nodes: Cluster, pg: PgServer | None) -> dict[str, float]:
    """CPU seconds so far: each bot process, PostgreSQL, and this process (the fake, poster)."""
    figures = {n.name: cpu_seconds(n.proc.pid) for n in nodes.nodes if n.proc}
    if pg is not None:
        figures["postgres"] = pg_cpu(pg)
    figures["telegram"] = time.process_time()
    return figures


async def funnel(
    label: str, kind: str, size: int, prospects: int, pg: PgServer | None, folder: Path
) -> Funnel:
    """`prospects` people walk the funnel at once (each waits for every reply)."""
    fake = FakeTelegram()
    fake.latency = 0.1
    users = range(FIRST_PROSPECT, FIRST_PROSPECT + prospects)
    for user in users:
        fake.add_user(user)
    with database(kind, pg, folder) as db:
        nodes = Cluster(fake, folder, size, db, OWNER_IDS=str(OWNER), LOG_LEVEL="WARNING")
        try:
            nodes.start()
            replies = Replies(fake, asyncio.get_running_loop())
            limits = httpx.Limits(max_connections=prospects, max_keepalive_connections=prospects)
            async with httpx.AsyncClient(timeout=30, limits=limits) as client:
                poster = Poster(nodes.bases, client)
                before, began = cpu_now(nodes, pg), time.perf_counter()
                try:
                    walked = await asyncio.gather(*(walk(fake, poster, replies, u) for u in users))
                except AssertionError:
                    print("\n".join(errors_in(nodes)[-40:]))  # why a prospect was stuck
                    raise
                took = time.perf_counter() - began
                after = cpu_now(nodes, pg)
            replies.close()
            nodes.stop()
            errors = errors_in(nodes)
        finally:
            nodes.close()
    cpu = {name: after[name] - before.get(name, 0.0) for name in after}
    latencies = [seconds for walk_ in walked for seconds in walk_]
    return Funnel(label, len(latencies), took, latencies, cpu, errors)


def errors_in(nodes: Cluster) -> list[str]:
    """The ERROR lines (and what follows them) the processes logged."""
    lines = [line for n in nodes.nodes for line in n.logs().splitlines()]
    return [line for line in lines if " ERROR " in line or "Error:" in line]


@dataclass
class Broadcast:
    """A broadcast sent by a cluster: rate, its busiest second, who sent, refusals."""

    audience: int
    rate: float
    busiest: int  # of every bulk send: the broadcast's copies and any tips meanwhile
    by: dict[str, int]
    refused: int  # 429s to the bulk sends
    owner_refused: list[str]  # 429s to the calls in the owner's chat (PTB's limiter retries them)
    cpu: dict[str, float]
    tips: int  # tips sent while the broadcast went (they share BULK_RATE with it)
    bulk: float  # tips and copies a second over the broadcast's span


async def broadcast(
    leads: int,
    bulk_rate: int,
    pg: PgServer | None,
    folder: Path,
    size: int = 3,
    tips_due: bool = False,
) -> Broadcast:
    """`size` processes on PostgreSQL (on SQLite without `pg`), a seeded database, the owner's
    broadcast to every lead, strict limits; with `tips_due`, a tip due to each lead too."""
    source = folder / "seeded.sqlite3"
    await create(source)
    seed(source, leads, leads * 5, tips_due=tips_due)
    fake = FakeTelegram()
    fake.strict()  # 429 above 30 in any rolling second
    fake.latency = 0.1
    for user in (OWNER, *range(1, leads + 1)):
        fake.add_user(user)
    with database("postgresql" if pg else "sqlite", pg, folder) as db:
        if pg is None:
            source.rename(db["DATABASE_PATH"])
        else:
            await copy_sqlite_to_postgres(source, db["DATABASE_URL"], say=lambda line: None)
        nodes = Cluster(
            fake, folder, size, db, OWNER_IDS=str(OWNER), BULK_RATE=str(bulk_rate),
            LOG_LEVEL="WARNING", SEND_HOURS="00:00-24:00",
        )  # fmt: skip
        try:
            nodes.start()
            replies = Replies(fake, asyncio.get_running_loop())
            async with httpx.AsyncClient(timeout=30) as client:
                poster = Poster(nodes.bases, client)
                await poster.post(fake.build_message(OWNER, f"/broadcast {NEWS}"))
                await replies.until(OWNER, lambda c: text_of(c).startswith("📣 Broadcast #1:"))
                everyone = fake.last_to(OWNER).buttons[0][0][1]
                assert everyone is not None
                await poster.post(fake.build_callback(OWNER, everyone))
                preview = await replies.until(OWNER, lambda c: "Audience: <b>" in text_of(c))
                audience = int(text_of(preview).split("Audience: <b>")[1].split("<")[0])
                before = cpu_now(nodes, pg)
                await poster.post(fake.build_callback(OWNER, "bc:go:1:0", check=False))
                done = "✅ Broadcast #1 finished"
                await replies.until(OWNER, lambda c: text_of(c).startswith(done), timeout=3600)
                after = cpu_now(nodes, pg)
            replies.close()
            nodes.stop()
        finally:
            nodes.close()
    copies = [c for c in fake.calls if c.method == "copyMessage" and c.params["chat_id"] != OWNER]
    delivered = [c.at for c in copies if c.status == 200]
    first, last = min(delivered), max(delivered)
    span = last - first
    tips = [a.at for a in fake.arrived("sendMessage") if a.chat_id != OWNER]  # only tips here
    bulk = [a.at for a in fake.arrived("copyMessage") if a.chat_id != OWNER] + tips
    during = sum(1 for at in bulk if first <= at <= last)
    by: dict[str, int] = {}
    for arrival in fake.arrived("copyMessage"):
        if arrival.chat_id != OWNER and arrival.via:
            by[arrival.via] = by.get(arrival.via, 0) + 1
    return Broadcast(
        audience=audience,
        rate=(len(delivered) - 1) / span if span else 0.0,
        busiest=busiest_second(bulk),
        by=by,
        refused=sum(1 for c in fake.calls if c.status == 429 and c.params.get("chat_id") != OWNER),
        owner_refused=sorted(
            c.method for c in fake.calls if c.status == 429 and c.params.get("chat_id") == OWNER
        ),
        cpu={name: after[name] - before.get(name, 0.0) for name in after},
        tips=sum(1 for at in tips if first <= at <= last),
        bulk=(during - 1) / span if span else 0.0,
    )


async def bare(rate: int, count: int) -> tuple[float, int]:
    """A bare client spacing `rate` copies a second evenly through the same fake (9 in flight,
    100 ms per call): the instrument's own rate and busiest second (its arrivals' jitter)."""
    fake = FakeTelegram()
    fake.strict()
    fake.latency = 0.1
    for user in (OWNER, *range(1, count + 1)):
        fake.add_user(user)
    message = fake.build_message(OWNER, NEWS)["message"]["message_id"]
    gate = asyncio.Semaphore(9)
    with FakeTelegramServer(fake, name="bare") as server:
        async with httpx.AsyncClient() as client:

            async def copy(user: int) -> None:
                body = {"chat_id": user, "from_chat_id": OWNER, "message_id": message}
                async with gate:
                    await client.post(f"{server.base_url}123:BARE/copyMessage", json=body)

            began, tasks = time.perf_counter(), []
            for n, user in enumerate(range(1, count + 1)):
                await asyncio.sleep(max(0.0, began + n / rate - time.perf_counter()))
                tasks.append(asyncio.create_task(copy(user)))
            await asyncio.gather(*tasks)
    times = sorted(a.at for a in fake.arrived("copyMessage"))
    return (len(times) - 1) / (times[-1] - times[0]), busiest_second(times)


def cpu_line(cpu: dict[str, float], seconds: float) -> str:
    """CPU seconds per process, and as a share of one core over the run."""
    return ", ".join(f"{name} {used:.1f} s ({used / seconds:.0%})" for name, used in cpu.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer prospects and leads")
    parser.add_argument("--prospects", type=int, help="people walking the funnel at once")
    parser.add_argument("--leads", type=int, help="seeded leads (about 60% are the audience)")
    parser.add_argument("--bulk-rate", type=int, default=25)
    parser.add_argument("--broadcast-only", action="store_true", help="skip the funnel runs")
    args = parser.parse_args()
    prospects = args.prospects or (30 if args.quick else 200)
    leads = args.leads or (120 if args.quick else 1700)
    pg = PgServer().start()
    try:
        runs: list[Funnel] = []
        plan = [("SQLite, 1 process", "sqlite", 1)] + [
            (f"PostgreSQL, {n} process{'es' if n > 1 else ''}", "postgresql", n) for n in (1, 2, 3)
        ]
        if not args.broadcast_only:
            print(
                f"funnel: {prospects} prospects at once x 4 updates, webhook mode, updates POSTed"
                f" round robin, 100 ms per Bot API call, {os.cpu_count()} cores"
            )
        for label, kind, size in [] if args.broadcast_only else plan:
            with tempfile.TemporaryDirectory() as folder:
                run = asyncio.run(funnel(label, kind, size, prospects, pg, Path(folder)))
            runs.append(run)
            print(
                f"  {label:<26} {run.per_second:6.1f} updates/s, p50 {run.p(0.5) * 1000:4.0f} ms,"
                f" p99 {run.p(0.99) * 1000:5.0f} ms over {run.seconds:.1f} s; CPU:"
                f" {cpu_line(run.cpu, run.seconds)}"
                + (f"; {len(run.errors)} ERROR lines, first: {run.errors[0]}" if run.errors else "")
            )
        one = next((r for r in runs if r.label.startswith("PostgreSQL, 1")), None)
        for run in runs if one else ():
            if run.label.startswith("PostgreSQL") and run is not one:
                print(f"  -> {run.label}: {run.per_second / one.per_second:.2f}x one process")
        with tempfile.TemporaryDirectory() as folder:
            sent = asyncio.run(broadcast(leads, args.bulk_rate, pg, Path(folder)))
        ratio = sent.rate / args.bulk_rate
        reference, jitter = asyncio.run(
            bare(args.bulk_rate, sent.audience)
        )  # as many: as much jitter
        goal = "met" if ratio >= 0.95 and sent.busiest <= args.bulk_rate else "NOT met"
        print(
            f"broadcast by 3 processes to {sent.audience} leads (no tip due), BULK_RATE"
            f" {args.bulk_rate}, strict Telegram (429 above 30 in any rolling second), 100 ms per"
            f" call: {sent.rate:.1f}/s -> ratio {ratio:.2f} of BULK_RATE, busiest rolling second"
            f" {sent.busiest}, {sent.refused} x 429 (the owner's chat: {sent.owner_refused or 0});"
            f" sent through {sent.by}; CPU over"
            f" {sent.audience / sent.rate:.0f} s: {cpu_line(sent.cpu, sent.audience / sent.rate)}"
        )
        print(
            f"  a bare client spacing {args.bulk_rate}/s evenly through the same fake:"
            f" {reference:.1f}/s, busiest rolling second {jitter} (the arrivals' jitter here,"
            f" with no margin) -> goal >= 0.95 of BULK_RATE, busiest <= BULK_RATE: {goal}"
        )
        with tempfile.TemporaryDirectory() as folder:
            both = asyncio.run(broadcast(leads, args.bulk_rate, pg, Path(folder), tips_due=True))
        print(
            f"  same with a tip due to each of them (tips and broadcasts share BULK_RATE):"
            f" broadcast {both.rate:.1f}/s ({both.rate / args.bulk_rate:.2f}), {both.tips} tips"
            f" meanwhile, bulk in all {both.bulk:.1f}/s ({both.bulk / args.bulk_rate:.2f}),"
            f" busiest rolling second {both.busiest}, {both.refused} x 429"
        )
    finally:
        pg.stop()


if __name__ == "__main__":
    main()
