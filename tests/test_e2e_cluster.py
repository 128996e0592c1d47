"""End to end: three `aimant` processes on one PostgreSQL database, one of them SIGKILLed.

Updates are POSTed round robin to the processes' webhook ports (tests/cluster.py); prospects
walk the funnel while an owner's broadcast and due tips go out; at a moment drawn from the seed
one process (the one sending, or another) dies with kill -9, either at once ("abrupt") or after
its network stalled for a moment ("stall": every request it had in flight is then known). Then:
no lead lost, no update applied twice, no tip or broadcast message delivered twice (nor asked
again unless Telegram refused it with a 429), unknown only among the dead process's requests
in flight (at most one of them claimed but not yet written), the broadcast finished, and bulk
sends never above BULK_RATE in any rolling second across the processes.

CLUSTER_SIZE (default 3) sets the number of processes; with 1 the dead process is started
again (what a supervisor does), same assertions (README: how it fares). More
seeds: AIMANT_CLUSTER_SEEDS=1.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from bot.nurture.sender import IN_FLIGHT as TIPS_IN_FLIGHT
from bot.store import Store
from bot.telegram.pacing import in_flight_for
from tests import db as raw_db
from tests.cluster import FUNNEL, TOKEN, Cluster, Node, Poster, Replies, text_of, walk
from tests.fakeapi import FakeTelegram
from tests.fakeapi.records import Arrival, busiest_second
from tests.pgserver import PASSWORD

SIZE = int(os.environ.get("CLUSTER_SIZE", "3"))
BULK_RATE = 10
OWNER = 777
LEADS = range(1000, 1040)  # the broadcast's audience
TIP_LEADS = LEADS[:16]  # ... of whom these have their first tip due now
PROSPECTS = range(5000, 5010)  # new people walking the funnel meanwhile
NEWS = "Big news for everyone"
TIP = "colours"

# (seed, victim, how): the victim is the process sending the bulk messages ("sender": the
# first to send a broadcast message) or one that is not ("other").
SEEDS = [(1, "sender", "stall"), (2, "other", "abrupt")]
MORE = [(3, "sender", "abrupt"), (4, "other", "stall"), (5, "sender", "stall")]
if os.environ.get("AIMANT_CLUSTER_SEEDS") == "1":
    SEEDS += MORE


async def seed(url: str) -> None:
    """Leads who got the guide; some with their first tip due now."""
    store = await Store.open_postgres(url)
    try:
        for user in LEADS:
            await store.leads.touch_visitor(
                user, first_name="L", last_name=None, username=None, language="en", source="ad"
            )
            await store.leads.request_magnet(user, "what-to-wear", None)
            await store.leads.capture_email(
                user, f"{user}@example.com", consent_version="v", magnet_id=None
            )
            await store.leads.mark_delivered(user, "what-to-wear", None)
            if user in TIP_LEADS:
                await store.tips.schedule(user, "what-to-wear", TIP, int(time.time()) - 1)
    finally:
        await store.close()


@pytest.fixture
async def cluster(tmp_path: Path, pg_url: str) -> AsyncIterator[tuple[FakeTelegram, Cluster]]:
    fake = FakeTelegram()
    fake.strict()  # Telegram's limits: a 429 would be the bot's fault
    fake.latency = 0.05
    for user in (OWNER, *LEADS, *PROSPECTS):
        fake.add_user(user)
    await seed(pg_url)
    nodes = Cluster(
        fake, tmp_path, SIZE, {"DATABASE_URL": pg_url},
        OWNER_IDS=str(OWNER), BULK_RATE=str(BULK_RATE), SEND_HOURS="00:00-24:00",
        TIPS_CHECK_SECONDS="0.5",
    )  # fmt: skip
    try:
        yield fake, nodes
    finally:
        nodes.close()


async def start_broadcast(fake: FakeTelegram, poster: Poster, replies: Replies) -> None:
    """The owner composes, picks everyone, confirms: as in the single-process tests."""
    await poster.post(fake.build_message(OWNER, f"/broadcast {NEWS}"))
    await replies.until(OWNER, lambda c: text_of(c).startswith("📣 Broadcast #1:"))
    everyone = fake.last_to(OWNER).buttons[0][0][1]  # the segment picker's first choice
    assert everyone is not None
    await poster.post(fake.build_callback(OWNER, everyone))
    await replies.until(OWNER, lambda c: f"Audience: <b>{len(LEADS)}</b>" in text_of(c))
    await poster.post(fake.build_callback(OWNER, "bc:go:1:0", check=False))


def bulk(fake: FakeTelegram) -> list[Arrival]:
    """Bulk requests that reached Telegram: broadcast copies and tips (held, dropped too)."""
    return [
        a
        for a in fake.arrivals
        if (a.method == "copyMessage" and a.chat_id in LEADS)
        or (a.method == "sendMessage" and a.chat_id in TIP_LEADS)
    ]


def crowded(arrivals: list[Arrival], dead: Node) -> list[tuple[float, str | None, str]]:
    """The busiest rolling second's arrivals (seconds from the kill, process, method)."""
    times = sorted(arrivals, key=lambda a: a.at)
    best: list[Arrival] = []
    first = 0
    for last, arrival in enumerate(times):
        while times[first].at <= arrival.at - 1.0:
            first += 1
        if last - first + 1 > len(best):
            best = times[first : last + 1]
    killed = dead.killed_at or 0.0
    return [(round(a.at - killed, 3), a.via, a.method) for a in best]


def busiest(times: list[float], span: float) -> int:
    """The most of these moments within any rolling `span` seconds."""
    return busiest_second([t / span for t in times])


def states(url: str, sql: str) -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    for state, user in raw_db.rows(url, sql):
        found.setdefault(state, []).append(user)
    return found


def bulk_states(url: str) -> tuple[dict[str, list[int]], dict[str, list[int]]]:
    """Broadcast recipients and the tip's leads, per state."""
    recipients = states(url, "SELECT state, user_id FROM broadcast_recipients")
    return recipients, states(url, f"SELECT state, user_id FROM tips WHERE tip_id = '{TIP}'")


def sender_of(fake: FakeTelegram) -> str | None:
    """The process through which the first bulk request went."""
    first = next(iter(bulk(fake)), None)
    return first.via if first else None


async def answers_recorded(fake: FakeTelegram, url: str, node: Node, within: float = 10.0) -> None:
    """Stalled: wait until the process has recorded every bulk answer it got before the stall
    (a loaded machine may take it past the 0.4 s), so that what it has not is in flight."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        held = {(a.method, a.chat_id) for a in node.server.gate.in_flight()}
        answered = {(a.method, a.chat_id) for a in bulk(fake) if a.via == node.name} - held
        recipients, tips = bulk_states(url)
        sending = {("copyMessage", u) for u in recipients.get("sending", [])}
        sending |= {("sendMessage", u) for u in tips.get("sending", [])}
        if not answered & sending:
            return
        await asyncio.sleep(0.05)


async def kill_one(
    fake: FakeTelegram, nodes: Cluster, url: str, rng: random.Random, victim: str, how: str
) -> tuple[Node, list[Arrival]]:
    """At a random moment of the bulk sending, SIGKILL one process; what it had in flight."""
    await asyncio.sleep(rng.uniform(0.5, 3.0))
    for _ in range(100):  # the first bulk request says who sends
        if sender_of(fake):
            break
        await asyncio.sleep(0.05)
    sending = sender_of(fake)
    names = [n.name for n in nodes.nodes]
    chosen = sending if victim == "sender" or len(names) == 1 else None
    chosen = chosen or rng.choice([n for n in names if n != sending])
    node = next(n for n in nodes.nodes if n.name == chosen)
    if how == "stall":  # its network to Telegram stops answering; it dies a moment later
        node.server.gate.freeze()
        await asyncio.sleep(0.4)
        await answers_recorded(fake, url, node)
    in_flight = node.server.gate.in_flight()  # arrived, not answered
    node.sigkill(fake.clock)
    if how == "stall":  # all it had: what it wrote up to its death, the fake has now read
        await asyncio.sleep(0.3)
        in_flight = node.server.gate.in_flight()
    node.server.gate.thaw(drop=True)  # nothing that waited reaches anybody
    return node, in_flight


def log_tails(nodes: Cluster, failure: str, lines: int = 40) -> str:
    """For a failure's message: each process's lines naming the chat it is about (``chat N:``)
    and its last lines."""
    about = re.match(r"chat (\d+):", failure)
    parts = []
    for node in nodes.nodes:
        logged = node.logs().splitlines()
        named = [line for line in logged if about and about.group(1) in line]
        parts.append(f"--- {node.name}, naming the chat:\n" + "\n".join(named[-lines:]))
        parts.append(f"--- {node.name}, last lines:\n" + "\n".join(logged[-lines:]))
    return "\n".join(parts)


@pytest.mark.parametrize(("seed_value", "victim", "how"), SEEDS)
async def test_three_processes_one_killed_lose_nothing_and_send_nothing_twice(
    cluster: tuple[FakeTelegram, Cluster], pg_url: str, seed_value: int, victim: str, how: str
) -> None:
    fake, nodes = cluster
    rng = random.Random(seed_value)
    loop = asyncio.get_running_loop()
    nodes.start()
    replies = Replies(fake, loop)
    async with httpx.AsyncClient(timeout=10) as client:
        poster = Poster(nodes.bases, client)
        await start_broadcast(fake, poster, replies)

        async def prospect(user: int) -> list[float]:
            await asyncio.sleep(rng.uniform(0, 3))
            pause = rng.uniform(1.0, 1.5)  # people read before they answer
            return await walk(fake, poster, replies, user, pause=pause)

        walking = asyncio.gather(*(prospect(u) for u in PROSPECTS))
        dead, in_flight = await kill_one(fake, nodes, pg_url, rng, victim, how)
        unfinished = "SELECT user_id FROM inbox WHERE done_at IS NULL"
        replayed = {r[0] for r in raw_db.rows(pg_url, unfinished)}  # may be handled twice
        if len(nodes.nodes) == 1:  # no other process: a supervisor starts it again
            dead.launch()
            nodes.wait_ready([dead])
        try:
            await walking
        except AssertionError as exc:  # a step unanswered: what each process logged
            raise AssertionError(f"{exc}\n{log_tails(nodes, str(exc))}") from None
        finished = "✅ Broadcast #1 finished"
        done = await replies.until(OWNER, lambda c: text_of(c).startswith(finished))
    replies.close()
    codes = nodes.stop()
    logs = {n.name: n.logs() for n in nodes.nodes}
    report = f"killed {dead.name} ({how}); finished: {text_of(done)}"

    assert all(code == 0 for code in codes.values()), (codes, report)
    # No lead lost: every prospect is a lead with their email, each step applied once.
    for user in PROSPECTS:
        email = raw_db.value(pg_url, "SELECT email FROM leads WHERE user_id = ?", (user,))
        assert email == f"p{user}@example.com", user
    for kind in ("start", "lead", "answer", "download"):
        per_user = Counter(
            r[0] for r in raw_db.rows(pg_url, "SELECT person FROM events WHERE kind = ?", (kind,))
            if r[0] in PROSPECTS
        )  # fmt: skip
        assert per_user == Counter(PROSPECTS), (kind, report)
    assert raw_db.value(pg_url, "SELECT COUNT(*) FROM inbox WHERE done_at IS NULL") == 0
    posted = set(poster.accepted)
    handled = {int(r[0]) for r in raw_db.rows(pg_url, "SELECT update_id FROM inbox")}
    assert posted <= handled, report
    # Replies: what closes each step arrived once, twice at most for an update still unfinished
    # when its process died (replayed: its reply may have left before the kill).
    for user in PROSPECTS:
        most = 2 if user in replayed else 1
        for _, closing in FUNNEL:
            shown = re.sub(r"<[^>]+>", "", closing)  # the chat shows the text without tags
            got = sum(1 for s in fake.sent_to(user) if s.text.startswith(shown))
            assert 1 <= got <= most, (user, closing, got, report)
        assert 1 <= sum(1 for s in fake.sent_to(user) if s.document) <= most, (user, report)

    # Bulk: each broadcast copy and each tip asked of Telegram once, unknown only among the dead
    # process's requests in flight (one may be claimed, not yet written), the rest delivered once.
    # A bulk message is asked of Telegram again only after Telegram refused it (429: not sent).
    asked = Counter((a.method, a.chat_id) for a in bulk(fake))
    refused = Counter(
        (c.method, int(c.params["chat_id"])) for c in fake.calls if c.status == 429
    )  # fmt: skip
    again = {k: n for k, n in asked.items() if n != 1 + refused[k]}
    report += f"; 429s: {dict(refused)}"
    recipients, tips = bulk_states(pg_url)
    unknown = [("copyMessage", u) for u in recipients.get("unknown", [])]
    unknown += [("sendMessage", u) for u in tips.get("unknown", [])]
    # Each asked; an unknown may not have been: its claim is committed a moment before its
    # request is written (README), and the kill may come in between.
    assert set(asked) | set(unknown) == {("copyMessage", u) for u in LEADS} | {
        ("sendMessage", u) for u in TIP_LEADS
    }, report
    assert not again, (again, report)
    if len(nodes.nodes) > 1:  # no restart's burst (README: a new pacer knows nothing of the
        # old one's last second): Telegram refused no bulk send, and no reply: a person's next
        # update within LINGER is handled where their last replies were paced. Only a replayed
        # person's replies may go from two processes (the dead one's, then its successor's).
        assert not [key for key in refused if key[1] not in replayed], report
    else:  # a restart's burst may have a bulk send refused; never a reply (they wait it out)
        assert all(chat in LEADS for _, chat in refused), report
    sent_in_bulk = set(bulk(fake))
    flying = {(a.method, a.chat_id) for a in in_flight if a in sent_in_bulk}
    victims = {(a.method, a.chat_id) for a in bulk(fake) if a.via == dead.name}
    left = {key for key in unknown if key in asked}  # the unknowns whose request arrived
    assert left <= victims, (unknown, report)  # only the dead process's requests
    # One claimed but not yet written at the kill (its 1-4 ms before the write), if it sent:
    # claims are a slot apart (1 / BULK_RATE), so never two in that moment.
    was_sending = victim == "sender" or len(nodes.nodes) == 1
    never = set(unknown) - left
    assert len(never) <= (1 if was_sending else 0), (never, report)
    pipeline = in_flight_for(BULK_RATE) + TIPS_IN_FLIGHT  # the broadcast's room and the tips'
    assert len(unknown) <= pipeline, (unknown, report)
    if how == "stall":  # every request it had in flight is known: unknown among those only
        assert left <= flying, (unknown, flying, report)
    assert sorted(recipients["sent"]) == sorted(set(LEADS) - set(recipients.get("unknown", [])))
    assert sorted(tips["sent"]) == sorted(set(TIP_LEADS) - set(tips.get("unknown", [])))
    for user in LEADS:
        news = sum(1 for s in fake.sent_to(user) if s.text == NEWS)
        if ("copyMessage", user) not in unknown:
            assert news == 1, (user, report)
        else:  # stalled: never answered, so never delivered; abrupt: it may have arrived
            assert news <= (0 if how == "stall" else 1), (user, news, report)
        tip = sum(1 for s in fake.sent_to(user) if s.text != NEWS)  # a tip lead gets nothing else
        if user in tips.get("sent", []):
            assert tip == 1, (user, report)
        else:
            assert tip <= (0 if how == "stall" or user not in TIP_LEADS else 1), (user, report)
    assert raw_db.value(pg_url, "SELECT state FROM broadcasts WHERE id = 1") == "done"
    killed = dead.killed_at or 0.0
    alone = len(nodes.nodes) == 1  # then the process restarted has the dead one's name
    after = [a for a in bulk(fake) if a.at > killed and (alone or a.via != dead.name)]
    if victim == "sender":  # it died mid-sending: another process (or its restart) took over
        assert after, report
    took_over = min(a.at for a in after) - killed if after else 0.0
    # The bulk rate held for the bot as a whole: at most BULK_RATE in any rolling second at
    # the fake's end, where the requests of all three processes arrive (the sender counts over
    # a second and ARRIVAL_MARGIN, so that arrival jitter cannot add one); two processes
    # sending at once would show up to twice the rate.
    times = [a.at for a in bulk(fake)]
    most = busiest_second(times)
    assert most <= BULK_RATE, (most, crowded(bulk(fake), dead), report)
    assert busiest(times, 2.0) <= 2 * BULK_RATE, (crowded(bulk(fake), dead), report)
    # A replayed button press answers its query and redraws its message a second time: Telegram
    # refuses both (harmless: the answer was applied once); nothing else Telegram would reject.
    again_on_replay = ("query is too old", "message is not modified")
    bad = [v for v in fake.violations if not (replayed and any(r in v for r in again_on_replay))]
    assert not bad, (bad, report)
    print(
        f"\n{report}; {len(flying)} bulk in flight at the kill, {len(unknown)} unknown;"
        f" bulk resumed {took_over:.1f} s after the kill; busiest second {most};"
        f" {poster.retried} POSTs retried; replayed people {sorted(replayed)}"
    )
    for name, log in logs.items():
        assert PASSWORD not in log and TOKEN.split(":")[1] not in log, name
        assert "Traceback" not in log, (name, log[-3000:])
