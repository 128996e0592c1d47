"""End to end: a prospect's quick messages, POSTed round robin to three `aimant` processes.

Each writes six messages 0.3 s apart (one second holds four replies if each answers at once,
one more than Telegram's ~1/s per chat with bursts of 3 allows). The first process to handle a
message keeps the person for LINGER after it (bot/telegram/cluster.py), so each next message
is handled there too and its per-chat pacer spaces the replies: all arrive, in order, and the
strict fake answers no 429 into the chat. Without the linger each message goes to whichever
process received it, whose pacer knows nothing of the others' replies.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.cluster import Cluster, Poster, Replies, text_of
from tests.fakeapi import FakeTelegram

OWNER = 777
PROSPECTS = range(6000, 6004)  # at once: four chats, each its own limit
GAP = 0.3  # seconds between a prospect's messages
# Each message and the start of the one reply it gets (the texts of magnets/texts/en).
BURST = (
    ("/start", "Hello "),
    ("/help", "I send free practical guides"),
    ("/magnets", "Our free guides."),
    ("/privacy", "Your privacy"),
    ("/mydata", "What we store about you"),
    ("/cancel", "There's nothing to cancel."),
)


@pytest.fixture
async def cluster(tmp_path: Path, pg_url: str) -> AsyncIterator[tuple[FakeTelegram, Cluster]]:
    fake = FakeTelegram()
    fake.strict()  # Telegram's limits: a 429 is the bot's fault
    fake.latency = 0.05
    for user in (OWNER, *PROSPECTS):
        fake.add_user(user)
    nodes = Cluster(fake, tmp_path, 3, {"DATABASE_URL": pg_url}, OWNER_IDS=str(OWNER))
    try:
        yield fake, nodes
    finally:
        nodes.close()


async def burst(fake: FakeTelegram, poster: Poster, user: int, start: float) -> None:
    """The prospect's six messages, GAP apart, without waiting for the replies."""
    await asyncio.sleep(start)
    for text, _ in BURST:
        await poster.post(fake.build_message(user, text))
        await asyncio.sleep(GAP)


async def test_a_prospects_quick_messages_across_processes_draw_no_429(
    cluster: tuple[FakeTelegram, Cluster],
) -> None:
    fake, nodes = cluster
    nodes.start()
    replies = Replies(fake, asyncio.get_running_loop())
    async with httpx.AsyncClient(timeout=10) as client:
        poster = Poster(nodes.bases, client)
        step = GAP / len(PROSPECTS)  # the prospects out of step
        await asyncio.gather(*(burst(fake, poster, u, n * step) for n, u in enumerate(PROSPECTS)))
        last = BURST[-1][1]
        for user in PROSPECTS:
            await replies.until(user, lambda c: text_of(c).startswith(last), timeout=30)
    replies.close()
    codes = nodes.stop()
    assert all(code == 0 for code in codes.values()), codes
    refused = {int(c.params["chat_id"]) for c in fake.calls if c.status == 429}
    spread = {u: sorted({a.via for a in fake.arrivals if a.chat_id == u}) for u in PROSPECTS}
    report = f"429s into {sorted(refused)}; replied by {spread}"
    print(f"\n{report}")
    for user in PROSPECTS:
        got = [re.sub(r"<[^>]+>", "", text_of(s)) for s in replies.seen.get(user, [])]
        assert len(got) == len(BURST), (user, got)  # each reply once
        for text, (_, expected) in zip(got, BURST, strict=True):
            assert text.startswith(expected), (user, got)  # in order
    assert not refused & set(PROSPECTS), report
    assert not fake.violations, fake.violations
