"""Webhook mode as a process: Telegram's secret header checked, bad bodies refused, health,
and the same no-loss, no-double guarantee as polling."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from bot.telegram.webhook import (
    Guard,
    Limits,
    QuietServer,
    Refusals,
    WebhookServer,
    bind,
    build_server,
    limits_for,
)
from tests import db as raw_db
from tests.conftest import Harness
from tests.fakeapi import FakeTelegram, FakeTelegramServer
from tests.test_e2e_kill import BotProcess, wait_for

SECRET = "s3cret_-token"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def hooked(tmp_path: Path) -> Iterator[tuple[FakeTelegram, BotProcess, str]]:
    fake = FakeTelegram()
    port = free_port()
    with FakeTelegramServer(fake) as server:
        bot = BotProcess(
            server,
            fake,
            tmp_path,
            WEBHOOK_URL=f"http://127.0.0.1:{port}",
            WEBHOOK_SECRET=SECRET,
            WEBHOOK_PORT=str(port),
        )
        try:
            yield fake, bot, f"http://127.0.0.1:{port}"
        finally:
            bot.kill()


def start(fake: FakeTelegram, bot: BotProcess, base: str) -> None:
    """Start the bot process and wait until its webhook is registered and answering."""
    bot.starts += 1
    log = (bot.workdir / f"bot-{bot.starts}.log").open("wb")
    bot.proc = subprocess.Popen(
        [sys.executable, "-m", "bot"], cwd=bot.workdir, env=bot.env, stdout=log, stderr=log
    )
    wait_for(lambda: fake.webhook_url == f"{base}/telegram", 30)
    wait_for(lambda: healthy(base), 30)


def healthy(base: str) -> bool:
    try:
        return httpx.get(f"{base}/health").status_code == 200
    except httpx.TransportError:  # not listening yet
        return False


def post(base: str, update: dict[str, object], secret: str | None = SECRET) -> int:
    headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {}
    return httpx.post(f"{base}/telegram", json=update, headers=headers).status_code


def test_webhook_mode(hooked: tuple[FakeTelegram, BotProcess, str], tmp_path: Path) -> None:
    fake, bot, base = hooked
    start(fake, bot, base)
    set_hook = next(c for c in fake.calls if c.method == "setWebhook")
    assert set_hook.params["secret_token"] == SECRET
    assert post(base, fake.build_message(41, "/start flyer")) == 200
    wait_for(lambda: fake.last_to(41).text.startswith("Hello"))
    # Requests without the right secret are refused and change nothing.
    assert post(base, fake.build_message(42, "/start"), secret=None) == 403
    assert post(base, fake.build_message(42, "/start"), secret="wrong") == 403
    # Malformed bodies are refused.
    assert (
        httpx.post(
            f"{base}/telegram",
            content=b"{not json",
            headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
        ).status_code
        == 400
    )
    assert post(base, {"no": "update"}) == 400
    for odd in (
        {"update_id": 2**64, "message": {}},
        {"update_id": 7, "message": {"message_id": 1, "date": 1e20, "chat": {"id": 1}}},
        {"update_id": "seven"},
        [1, 2, 3],
    ):
        assert post(base, odd) == 400  # type: ignore[arg-type]
    nested = b"[" * 100_000 + b"]" * 100_000
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    assert httpx.post(f"{base}/telegram", content=nested, headers=headers).status_code == 400
    assert httpx.get(f"{base}/elsewhere").status_code == 404
    health = httpx.get(f"{base}/health").json()
    assert health["ok"] is True and health["received"] == 1
    # Telegram retrying an update it already delivered: applied once.
    again = fake.build_message(41, "ada@example.com")
    assert post(base, again) == 200 and post(base, again) == 200
    bot.stop(signal.SIGTERM)
    assert bot.proc is not None and bot.proc.returncode == 0
    db = tmp_path / "aimant.sqlite3"
    assert raw_db.value(db, "SELECT COUNT(*) FROM leads") == 1
    assert raw_db.value(db, "SELECT COUNT(*) FROM inbox WHERE done_at IS NULL") == 0
    assert not any(c.params.get("chat_id") == 42 for c in fake.calls)  # refused: no reply
    assert SECRET not in "".join(bot.logs)
    assert json.dumps(SECRET) not in "".join(bot.logs)


def test_webhook_update_answered_200_then_sigkill_is_not_lost(
    hooked: tuple[FakeTelegram, BotProcess, str], tmp_path: Path
) -> None:
    fake, bot, base = hooked
    start(fake, bot, base)
    fake.hold("sendMessage")  # handling gets stuck after Telegram was told 200
    assert post(base, fake.build_message(43, "/start market")) == 200
    assert fake.wait_until_holding(15)
    assert bot.proc is not None
    bot.proc.kill()
    bot.proc.wait()
    fake.release(drop=True)
    start(fake, bot, base)  # Telegram will not resend it: the inbox replays it
    wait_for(lambda: fake.last_to(43).text.startswith("Hello"), 30)
    bot.stop(signal.SIGTERM)
    db = tmp_path / "aimant.sqlite3"
    source = raw_db.value(db, "SELECT first_source FROM leads WHERE user_id = 43")
    assert source == "market"


async def test_an_update_id_that_is_not_an_integer_is_not_an_update(
    bot_with: Callable[..., Awaitable[Harness]], caplog: pytest.LogCaptureFixture
) -> None:
    harness = await bot_with(webhook_url="http://127.0.0.1:1", webhook_secret=SECRET)
    receiver = WebhookServer(harness.app, harness.svc)
    with caplog.at_level(logging.WARNING):
        for update_id in ("5.5", "true", "1e10", '"8"', "null"):
            answer = await receiver.accept(f'{{"update_id": {update_id}}}'.encode())
            assert answer.status_code == 400, update_id  # never a 500 Telegram would retry
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert await harness.svc.store.intake.pending_count() == 0
    assert (await receiver.accept(b'{"update_id": 9}')).status_code == 200  # an empty update


# --- the real server in this process, with short limits: hostile traffic -----------------------

# A whole request must arrive within 1.5 s (10 s by default); 100 connections at most, and one
# accept round takes at most 50 before the surplus is turned away.
LIMITS = Limits(read_timeout=1.5, max_connections=100, backlog=50)


@dataclass
class Served:
    """The webhook server listening on a local port, in this test's event loop."""

    harness: Harness
    receiver: WebhookServer
    guard: Guard
    server: QuietServer
    port: int

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection("127.0.0.1", self.port)


@pytest.fixture
def limits() -> Limits:
    return LIMITS


@pytest.fixture
async def served(
    bot_with: Callable[..., Awaitable[Harness]], limits: Limits
) -> AsyncIterator[Served]:
    harness = await bot_with(webhook_url="http://127.0.0.1:1", webhook_secret=SECRET)
    receiver = WebhookServer(harness.app, harness.svc)
    sock = bind("127.0.0.1", 0, limits.backlog)
    server, guard = build_server(receiver, limits)
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    yield Served(harness, receiver, guard, server, sock.getsockname()[1])
    server.should_exit = True
    await serving


def head(secret: str | None = SECRET, **headers: str) -> bytes:
    """A POST /telegram request head (the body is up to the test)."""
    lines = ["POST /telegram HTTP/1.1", "Host: 127.0.0.1"]
    if secret is not None:
        lines.append(f"X-Telegram-Bot-Api-Secret-Token: {secret}")
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def closed_by_server(reader: asyncio.StreamReader, within: float = 30) -> bytes:
    """Everything the server sent until it closed the connection (a reset counts as closed)."""
    data = b""
    try:
        async with asyncio.timeout(within):  # a generous upper bound, not a speed check
            while chunk := await reader.read(65536):
                data += chunk
    except ConnectionResetError:
        pass
    return data


async def dribble(served: Served, every: float) -> bytes:
    """A slowloris: a valid start, then one header byte every `every` seconds, for ever."""
    reader, writer = await served.connect()
    writer.write(b"POST /telegram HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")

    async def drip() -> None:
        with contextlib.suppress(ConnectionError):
            while True:
                await asyncio.sleep(every)
                writer.write(b"a")
                await writer.drain()

    dripping = asyncio.create_task(drip())
    try:
        return await closed_by_server(reader)
    finally:
        dripping.cancel()
        writer.close()


def rss() -> int:
    """This process's resident memory, in bytes (Linux)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE")


async def test_a_slow_header_dribble_is_cut_after_the_read_deadline(served: Served) -> None:
    assert await dribble(served, every=0.3) == b""  # cut, no answer owed
    assert served.receiver.refusals.counts["timed out"] == 1
    assert not served.guard.reading


async def test_a_body_shorter_than_its_content_length_is_cut(served: Served) -> None:
    reader, writer = await served.connect()
    writer.write(head(Content_Length="100", Content_Type="application/json") + b'{"update_')
    await writer.drain()
    assert await closed_by_server(reader) == b""
    writer.close()
    assert served.receiver.refusals.counts == {"timed out": 1}
    assert await served.harness.svc.store.intake.pending_count() == 0


async def test_a_flood_of_big_headers_is_refused_before_it_costs_memory(served: Served) -> None:
    big = b"a" * 60_000

    async def flood(n: int) -> tuple[int, bytes]:
        reader, writer = await served.connect()
        sent = 0
        with contextlib.suppress(ConnectionError):
            writer.write(b"POST /telegram HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            for i in range(1500):  # 90 MB of distinct headers, if the server let it in
                writer.write(b"X-Flood-%d-%d: %s\r\n" % (n, i, big))
                await writer.drain()
                sent += len(big)
        answer = await closed_by_server(reader)
        writer.close()
        return sent, answer

    before = rss()
    results = await asyncio.gather(*(flood(n) for n in range(4)))
    grown = rss() - before
    for sent, answer in results:
        assert sent < 20_000_000  # cut long before the 90 MB (kernel buffers hold a little)
        assert answer == b"" or answer.startswith(b"HTTP/1.1 431 ")
    assert grown < 50_000_000, f"grew by {grown / 1e6:.0f} MB"
    assert served.receiver.refusals.counts["too large"] == 4


async def test_many_small_headers_get_431(served: Served) -> None:
    reader, writer = await served.connect()
    many = {f"X_Many_{i}": "v" for i in range(3000)}  # 16 KB is for all headers together
    writer.write(head(**many))
    await writer.drain()
    assert (await closed_by_server(reader)).startswith(b"HTTP/1.1 431 ")
    writer.close()


async def test_an_oversized_body_gets_413(served: Served) -> None:
    reader, writer = await served.connect()  # declared too big: refused before it is sent
    writer.write(head(Content_Length=str(2 << 20)))
    await writer.drain()
    assert (await closed_by_server(reader)).startswith(b"HTTP/1.1 413 ")
    writer.close()
    reader, writer = await served.connect()  # no length given: refused while it streams
    writer.write(head(Transfer_Encoding="chunked"))
    with contextlib.suppress(ConnectionError):
        for _ in range(40):
            writer.write(b"10000\r\n" + b" " * 0x10000 + b"\r\n")
            await writer.drain()
    assert (await closed_by_server(reader)).startswith(b"HTTP/1.1 413 ")
    writer.close()
    assert served.receiver.refusals.counts == {"too large": 2}


async def test_a_wrong_secret_gets_403_without_its_body_being_read(served: Served) -> None:
    for secret in ("wrong", None):
        reader, writer = await served.connect()
        writer.write(head(secret, Content_Length="500000"))  # the body never comes
        await writer.drain()
        assert (await closed_by_server(reader)).startswith(b"HTTP/1.1 403 ")
        writer.close()
    assert served.receiver.refusals.counts == {"wrong secret": 2}
    assert await served.harness.svc.store.intake.pending_count() == 0


@pytest.mark.parametrize("limits", [LIMITS._replace(read_timeout=5)])  # all held at once
async def test_updates_and_health_get_through_hundreds_of_slow_connections(
    served: Served, limits: Limits
) -> None:
    counts = served.receiver.refusals.counts

    def seen() -> int:  # each slow connection is held, was pushed out, or timed out
        return len(served.guard.reading) + counts["too many connections"] + counts["timed out"]

    slow: list[asyncio.Task[bytes]] = []
    peak = 0

    async def watch() -> None:
        nonlocal peak
        while True:
            peak = max(peak, len(served.server.server_state.connections))
            await asyncio.sleep(0.01)

    watching = asyncio.create_task(watch())
    async with asyncio.timeout(30):  # a generous upper bound
        for _ in range(12):  # in rounds, so that the accept queue never overflows
            slow += [asyncio.create_task(dribble(served, every=0.5)) for _ in range(25)]
            while seen() < len(slow):
                await asyncio.sleep(0.01)
    held = len(served.guard.reading)
    fake = served.harness.fake
    async with httpx.AsyncClient(base_url=served.base) as client:
        answer = await client.post(
            "/telegram",
            json=fake.build_message(41, "/start flyer"),
            headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
        )
        assert answer.status_code == 200
        health = (await client.get("/health")).json()
    assert health == {"ok": True, "received": 1, "pending": 1}
    assert await asyncio.gather(*slow) == [b""] * 300  # each one cut, none answered
    watching.cancel()
    assert held > 0  # the update came while slow connections were held (100 unless slow)
    assert peak <= limits.max_connections + limits.backlog  # the cap, plus one accept round
    assert counts["timed out"] + counts["too many connections"] == 300  # each slow one, once


async def test_refusals_are_summarised_at_most_once_per_interval(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    every = 0.5
    reporting = asyncio.create_task(served.receiver.refusals.run(every))
    began = time.monotonic()
    async with httpx.AsyncClient(base_url=served.base) as client:
        for _ in range(5):
            for _ in range(20):
                answer = await client.post("/telegram", json={"update_id": 1}, headers={})
                assert answer.status_code == 403
            assert (await client.get("/wp-login.php")).status_code == 404
            await asyncio.sleep(every / 2)
    await asyncio.sleep(every * 1.5)
    reporting.cancel()
    elapsed = time.monotonic() - began
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert lines and all(line.startswith("webhook refused ") for line in lines)  # no other
    assert len(lines) <= elapsed / every + 1
    refused = [re.search(r"(\d+) wrong secret", line) for line in lines]
    assert sum(int(m.group(1)) for m in refused if m) == 100
    assert sum(int(re.findall(r"(\d+) unknown path", line)[0]) for line in lines) == 5


async def test_health_pending_is_a_count_of_the_waiting_updates(served: Served) -> None:
    store = served.harness.svc.store
    await store.intake.save([(n, 7, json.dumps({"update_id": n})) for n in range(1, 51)])
    for n in range(1, 11):
        await store.intake.done(n)
    async with httpx.AsyncClient(base_url=served.base) as client:
        health = (await client.get("/health")).json()
        assert (await client.post("/health")).status_code == 405
    db = served.harness.svc.settings.database_path
    waiting = raw_db.value(db, "SELECT COUNT(*) FROM inbox WHERE done_at IS NULL")
    assert health["pending"] == waiting == 40


def test_the_connection_cap_leaves_open_files_for_the_rest() -> None:
    assert limits_for(10, 1000, 65536) == Limits(10, 1000, 2048)
    assert limits_for(10, 1000, 1024) == Limits(10, 512, 256)  # 1,024: the usual default
    assert limits_for(10, 100_000, 20000) == Limits(10, 10000, 2048)
    for wanted in (8, 1000, 100_000):
        for files in (256, 1024, 4096, 65536):
            cap = limits_for(10, wanted, files)
            assert cap.max_connections + cap.backlog <= max(files - 200, 24)


def test_sigterm_does_not_wait_for_requests_still_arriving(
    hooked: tuple[FakeTelegram, BotProcess, str],
) -> None:
    fake, bot, base = hooked
    bot.env["WEBHOOK_READ_TIMEOUT"] = "120"  # far longer than bot.stop waits (20 s)
    start(fake, bot, base)
    port = int(base.rsplit(":", 1)[1])
    held = []
    for n in range(50):  # half stuck in their headers, half in their bodies
        conn = socket.create_connection(("127.0.0.1", port))
        conn.sendall(head(Content_Length="100") + b"{" if n % 2 else b"POST /telegram HTTP/1.1\r\n")
        held.append(conn)
    assert httpx.get(f"{base}/health").json()["pending"] == 0  # answered while they hang
    bot.stop(signal.SIGTERM)
    assert bot.proc is not None and bot.proc.returncode == 0
    for conn in held:
        conn.settimeout(20)
        with contextlib.suppress(ConnectionResetError):
            assert conn.recv(100) == b""  # closed, no answer
        conn.close()
    assert "stopped" in bot.logs[-1]


def test_the_open_files_limit_is_raised_to_the_hard_one() -> None:
    script = (
        "import resource\n"
        "soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (min(256, hard), hard))\n"
        "from bot.telegram.webhook import raise_open_files_limit\n"
        "got = raise_open_files_limit()\n"
        "assert got == resource.getrlimit(resource.RLIMIT_NOFILE)[0], got\n"
        "assert got == hard or hard == resource.RLIM_INFINITY, (got, hard)\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, cwd=Path(__file__).parents[1])


class Conn:
    """A stand-in connection for the guard: just what it looks at."""

    def __init__(self, guard: Guard, everyone: set[object]) -> None:
        self.guard, self.connections = guard, everyone
        everyone.add(self)
        self.aborted = False
        self.transport = self

    def abort(self) -> None:
        self.aborted = True

    def disarm(self) -> None:
        self.guard.reading.pop(self, None)  # type: ignore[call-overload]


def test_when_full_the_slowest_reader_goes_and_without_one_the_newcomer() -> None:
    refusals = Refusals()
    guard = Guard(refusals, read_timeout=10, max_connections=2)
    everyone: set[object] = set()
    first, second = Conn(guard, everyone), Conn(guard, everyone)
    assert guard.admit(first) and guard.admit(second)  # type: ignore[arg-type]
    guard.reading[first] = None  # type: ignore[index]  # still sending its request
    assert guard.admit(Conn(guard, everyone)) and first.aborted  # type: ignore[arg-type]
    assert not guard.admit(Conn(guard, everyone))  # type: ignore[arg-type]  # nobody to push out
    assert refusals.counts == {"too many connections": 2}
