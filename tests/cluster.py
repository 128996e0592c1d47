"""Several `aimant` processes in webhook mode on one database, and Telegram in front of them.

Shared by the cluster end-to-end test (tests/test_e2e_cluster.py) and its bench
(bench/bench_cluster.py). One FakeTelegram answers every process, each through a server of
its own (``via`` in each arrival names the process; its ``gate`` says what that process has in
flight and can cut its network). ``Poster`` plays Telegram's side of webhook delivery: each
update is POSTed to the next process in turn (a load balancer's round robin) with the secret
header, and sent again to the next one until a process answers 200 (Telegram retries too).
``Replies`` lets many prospects wait for the bot's answers without polling the fake.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.fakeapi import Call, FakeTelegram, FakeTelegramServer

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "123456:CLUSTER-secret-token-value"
SECRET = "cluster_webhook-secret"
SENDS = frozenset(
    {"sendMessage", "sendDocument", "copyMessage", "editMessageText", "sendPhoto", "sendVoice"}
)


def free_port() -> int:
    """A TCP port nobody listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process used so far (/proc/<pid>/stat, no psutil)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rpartition(")")[2].split()  # after the command name, which may hold spaces
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Node:
    """One bot process: its Bot API server (in this process), its webhook port, its logs."""

    name: str
    server: FakeTelegramServer
    port: int
    env: dict[str, str]
    workdir: Path
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0
    cpu: float = 0.0  # CPU seconds used, read when it stopped (or was killed)
    killed_at: float | None = None  # the fake's clock at the SIGKILL

    @property
    def base(self) -> str:
        """Where this process listens for Telegram's POSTs."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / f"{self.name}-{self.starts}.log"

    def logs(self) -> str:
        """Everything this process (every start of it) logged."""
        paths = (self.workdir / f"{self.name}-{n}.log" for n in range(1, self.starts + 1))
        return "".join(p.read_text(errors="replace") for p in paths if p.exists())

    def launch(self) -> None:
        """Start `python -m bot` (returns at once; see Cluster.wait_ready)."""
        self.starts += 1
        log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot"], cwd=self.workdir, env=self.env, stdout=log, stderr=log
        )

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def ready(self) -> bool:
        """Serving: /health answers once the application has started (the webhook server
        starts after it); updates POSTed from then on are taken."""
        if not self.alive:
            raise AssertionError(f"{self.name} exited at start:\n{self.logs()[-3000:]}")
        try:
            return httpx.get(f"{self.base}/health", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    def sigkill(self, clock: Callable[[], float]) -> None:
        """kill -9, and wait for it to be gone."""
        assert self.proc is not None
        self.cpu = cpu_seconds(self.proc.pid)
        self.proc.kill()
        self.killed_at = clock()
        self.proc.wait(timeout=10)

    def sigterm(self, timeout: float = 30) -> int:
        """A clean stop; its exit code."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.cpu = cpu_seconds(self.proc.pid)
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)

    def cleanup(self) -> None:
        """No process left behind."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class Cluster:
    """N bot processes on one database (DATABASE_URL, or a SQLite file for one process)."""

    def __init__(
        self, fake: FakeTelegram, workdir: Path, size: int, database: dict[str, str], **extra: str
    ) -> None:
        self.fake, self.workdir = fake, workdir
        self.nodes: list[Node] = []
        # Every process registers the same public URL: the load balancer's (here the first's).
        ports = [free_port() for _ in range(size)]
        for n, port in enumerate(ports):
            name = f"p{n + 1}"
            server = FakeTelegramServer(fake, name=name).start()
            env = {
                **os.environ,
                "BOT_TOKEN": TOKEN,
                "BOT_API_URL": server.base_url,
                "CATALOGUE_PATH": str(ROOT / "magnets" / "catalogue.toml"),
                "TEXTS_DIR": str(ROOT / "magnets" / "texts"),
                "WEBHOOK_URL": f"http://127.0.0.1:{ports[0]}",
                "WEBHOOK_SECRET": SECRET,
                "WEBHOOK_PORT": str(port),
                "LOG_LEVEL": "INFO",
                **database,
                **extra,
            }
            self.nodes.append(Node(name, server, port, env, workdir))

    def start(self, timeout: float = 60) -> None:
        """Start every process at once; return when all of them serve."""
        for node in self.nodes:
            node.launch()
        self.wait_ready([n for n in self.nodes], timeout)

    def wait_ready(self, nodes: list[Node], timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        waiting = list(nodes)
        while waiting:
            waiting = [n for n in waiting if not n.ready()]
            if waiting and time.monotonic() > deadline:
                names = ", ".join(n.name for n in waiting)
                raise AssertionError(f"{names} never became ready:\n{waiting[0].logs()[-3000:]}")
            time.sleep(0.1)

    @property
    def bases(self) -> list[str]:
        return [n.base for n in self.nodes]

    def stop(self) -> dict[str, int]:
        """SIGTERM to every live process at once; their exit codes."""
        live = [n for n in self.nodes if n.alive]
        for node in live:
            assert node.proc is not None
            node.cpu = cpu_seconds(node.proc.pid)
            node.proc.send_signal(signal.SIGTERM)
        return {n.name: n.sigterm() for n in live}

    def close(self) -> None:
        """Kill what is left, stop the Bot API servers."""
        for node in self.nodes:
            node.server.gate.thaw(drop=True)
            node.cleanup()
            node.server.stop()


@dataclass
class Poster:
    """Telegram's webhook delivery: round robin over the processes, again until a 200."""

    bases: list[str]
    client: httpx.AsyncClient
    accepted: dict[int, str] = field(default_factory=dict)  # update_id -> base that said 200
    retried: int = 0  # POSTs that failed (a dead process) and went to the next one
    _turn: itertools.count[int] = field(default_factory=itertools.count)

    async def post(self, update: dict[str, Any], timeout: float = 60) -> str:
        """Deliver one update; the base of the process that took it."""
        deadline = time.monotonic() + timeout
        headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
        while True:
            base = self.bases[next(self._turn) % len(self.bases)]
            try:
                answer = await self.client.post(f"{base}/telegram", json=update, headers=headers)
                if answer.status_code == 200:
                    self.accepted[int(update["update_id"])] = base
                    return base
            except httpx.TransportError:
                pass  # refused or reset: that process is gone
            self.retried += 1
            if time.monotonic() > deadline:
                raise AssertionError(f"no process took update {update['update_id']}")
            await asyncio.sleep(0.05)


class Replies:
    """What the bot sent to each chat, handed to coroutines waiting for it (no polling)."""

    def __init__(self, fake: FakeTelegram, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.seen: dict[int, list[Call]] = {}
        self._changed: dict[int, asyncio.Event] = {}
        self._unwatch = fake.watch(self._on_call)

    def _on_call(self, call: Call) -> None:
        """In the fake's thread: a successful send to a chat is passed to the loop."""
        if call.status != 200 or call.method not in SENDS:
            return
        try:
            chat = int(call.params.get("chat_id"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return
        self.loop.call_soon_threadsafe(self._add, chat, call)

    def _add(self, chat: int, call: Call) -> None:
        self.seen.setdefault(chat, []).append(call)
        event = self._changed.get(chat)
        if event is not None:
            event.set()

    async def until(
        self, chat: int, done: Callable[[Call], bool], since: int = 0, timeout: float = 60
    ) -> Call:
        """The first call to `chat` (from index `since`) for which `done` holds."""
        deadline = self.loop.time() + timeout
        while True:
            calls = self.seen.get(chat, [])
            for call in calls[since:]:
                if done(call):
                    return call
            since = len(calls)
            event = self._changed.setdefault(chat, asyncio.Event())
            event.clear()
            left = deadline - self.loop.time()
            if left <= 0:
                raise AssertionError(f"chat {chat}: no such message; got {texts(calls)}")
            with contextlib.suppress(TimeoutError):  # the loop above says what was missing
                await asyncio.wait_for(event.wait(), left)

    def count(self, chat: int) -> int:
        return len(self.seen.get(chat, []))

    def close(self) -> None:
        self._unwatch()


def texts(calls: list[Call]) -> list[str]:
    """The texts (or captions) of some calls, shortened, for failure messages."""
    return [str(c.params.get("text") or c.params.get("caption") or c.method)[:40] for c in calls]


def text_of(call: Call) -> str:
    return str(call.params.get("text") or call.params.get("caption") or "")


# A prospect's walk: the deep link, the email, the answer button, the menu; each step is done
# when the message that closes it arrives (the intro asks for the email, the question, the
# farewell after the guide, the menu).
FUNNEL: tuple[tuple[str, str], ...] = (
    ("/start instagram__what-to-wear", "<b>What to wear for your photo shoot</b>"),
    ("{email}", "What kind of shoot are you planning?"),
    ("ans:what-to-wear:family", "Enjoy the read!"),
    ("/magnets", "Our free guides."),
)


def closes(prefix: str) -> Callable[[Call], bool]:
    """Whether a call's text starts with `prefix` (the message that closes a step)."""
    return lambda call: text_of(call).startswith(prefix)


async def walk(
    fake: FakeTelegram, poster: Poster, replies: Replies, user: int, pause: float = 0.0
) -> list[float]:
    """One prospect walks the funnel, waiting for each reply as a person would; the seconds
    from each POST to the bot's first message in answer."""
    latencies = []
    for step, closing in FUNNEL:
        if step.startswith("ans:"):
            update = fake.build_callback(user, step, check=False)
        else:
            update = fake.build_message(user, step.format(email=f"p{user}@example.com"))
        since = replies.count(user)
        posted = fake.clock()
        await poster.post(update)
        first = await replies.until(user, lambda c: True, since)
        latencies.append(first.at - posted)
        await replies.until(user, closes(closing), since)
        if pause:
            await asyncio.sleep(pause)
    return latencies
