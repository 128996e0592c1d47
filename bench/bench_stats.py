"""/stats on a big store: time to build its text (the chart excluded), by the very function
the handler calls (handlers.stats.stats_lines: every KPI, the outboxes' health, the team
inbox's conversations and answers), with an owner set as the bot sets them.

Goal (issue 7): under 300 ms with 100,000 leads and 1,000,000 events.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from zoneinfo import ZoneInfo

from bench.harness import OWNER, settings
from bench.seed import SPAN, START, create, seed
from bot.content.catalogue import load_catalogue
from bot.content.texts import load_texts
from bot.owner.periods import ALL_TIME, month_of
from bot.services import Running, Services
from bot.store import Store
from handlers.stats import stats_lines


def services(path: Path, store: Store) -> Services:
    """The bot's services around the seeded store (no Telegram: the text only)."""
    config = settings(path.parent, database_path=path)
    svc = Services(
        config,
        load_catalogue(config.catalogue_path),
        load_texts(config.texts_dir, config.default_language),
        clock=lambda: START + SPAN,
    )
    svc.open(Running(store))  # the store alone: /stats sends nothing
    return svc


async def measure(path: Path, runs: int, everything: bool) -> list[float]:
    """Milliseconds to build the text of `/stats` (or `/stats all`), `runs` times."""
    store = await Store.open(path, clock=lambda: START + SPAN)
    await store.set_owners([OWNER])
    svc = services(path, store)
    zone = ZoneInfo("Europe/Paris")
    period = ALL_TIME if everything else month_of(START + SPAN - 86400 * 20, zone)
    timings = []
    for _ in range(runs):
        began = time.perf_counter()
        await stats_lines(svc, period)
        timings.append((time.perf_counter() - began) * 1000)
    await store.close()
    return timings


def main() -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "stats.sqlite3"
        asyncio.run(create(path))
        began = time.perf_counter()
        events = seed(path, args.leads, args.events)
        took = time.perf_counter() - began
        print(f"seeded {args.leads:,} leads and {events:,} events in {took:.1f} s")
        month = asyncio.run(measure(path, args.runs, everything=False))
        ever = asyncio.run(measure(path, args.runs, everything=True))
    result = {"stats_ms": statistics.median(month), "stats_all_ms": statistics.median(ever)}
    for name, timings in (("/stats", month), ("/stats all", ever)):
        median = statistics.median(timings)
        verdict = "met" if median < 300 else "NOT met"
        print(
            f"{name} text: median {median:.0f} ms, worst {max(timings):.0f} ms over"
            f" {args.runs} runs; goal < 300 ms: {verdict}"
        )
    return result


if __name__ == "__main__":
    main()
