"""Double opt-in and webhooks: does the chat wait for the mail server, how fast do events go?

1. p99 reply time to the email message with double opt-in against a real local SMTP server
   (aiosmtpd) that takes 1 s per mail, against the same funnel without double opt-in
   (goal <= 2: the chat never waits for the mail server).
2. Webhook events delivered per second from the SQLite outbox to a local HTTP receiver (signed,
   in order per lead), against a bare httpx client posting the same bodies with the same number
   of requests in flight (goal >= 0.5).
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from aiosmtpd.controller import Controller
from telegram import Update

from bench.bench_funnel import percentile
from bench.harness import settings, start, stop
from bot.outbox.crm import IN_FLIGHT
from tests.fakeapi import FakeTelegram

FIRST_USER = 20_000_000


class SlowInbox:
    """aiosmtpd handler that takes `delay` seconds to accept each mail."""

    def __init__(self, delay: float) -> None:
        self.delay, self.count = delay, 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await asyncio.sleep(self.delay)
        self.count += 1
        return "250 OK"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def email_latencies(users: int, latency: float, **overrides: Any) -> list[float]:
    """ms to handle each prospect's email message (all prospects at once)."""
    with tempfile.TemporaryDirectory() as folder:
        fake = FakeTelegram()
        fake.latency = latency
        app, svc = await start(settings(Path(folder), **overrides), fake)
        times: list[float] = []

        async def walk(user: int) -> None:
            fake.add_user(user)
            for text in ("/start instagram__what-to-wear", f"p{user}@example.com"):
                parsed = Update.de_json(fake.build_message(user, text), app.bot)
                began = time.perf_counter()
                await app.update_processor.process_update(parsed, app.process_update(parsed))
                if "@" in text:
                    times.append((time.perf_counter() - began) * 1000)

        await asyncio.gather(*(walk(FIRST_USER + n) for n in range(users)))
        if svc.running and svc.running.mailer:
            await svc.running.mailer.drain()  # every mail leaves (the chat did not wait for them)
        await stop(app)
    return times


class Receiver:
    """A minimal HTTP/1.1 keep-alive receiver answering 200 to every POST."""

    def __init__(self) -> None:
        self.count = 0
        self.server: asyncio.Server | None = None

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                length = 0
                for line in head.decode("latin-1").split("\r\n"):
                    if line.lower().startswith("content-length:"):
                        length = int(line.split(":", 1)[1])
                await reader.readexactly(length)
                self.count += 1
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass  # the client closed, or the benchmark ended
        finally:
            writer.close()

    async def start(self) -> str:
        self.server = await asyncio.start_server(self.serve, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/hook"


async def webhooks(events: int) -> tuple[float, float]:
    """(outbox events/s, bare httpx posts/s) to the same receiver."""
    receiver = Receiver()
    url = await receiver.start()
    with tempfile.TemporaryDirectory() as folder:
        config = settings(Path(folder), crm_webhook_urls=[url], crm_webhook_secret="bench")
        app, svc = await start(config, FakeTelegram())
        store = svc.store
        store.on_hook = None  # queue everything first, then time the delivery alone
        for n in range(events):
            user = FIRST_USER + n
            await store.leads.touch_visitor(
                user, first_name="P", last_name=None, username=None, language="en"
            )
            await store.leads.capture_email(
                user, f"p{user}@example.com", consent_version="v", magnet_id="what-to-wear"
            )
        bodies = [(await store.hooks.due(url, 1))[0].body.encode()] * events
        began = time.perf_counter()
        await svc.crm.tick()
        outbox = events / (time.perf_counter() - began)
        assert (await store.hooks.counts()).get("sent") == events, await store.hooks.counts()
        await stop(app)
    limit = asyncio.Semaphore(IN_FLIGHT)
    async with httpx.AsyncClient(timeout=10) as client:

        async def post(body: bytes) -> None:
            async with limit:
                response = await client.post(url, content=body)
                response.raise_for_status()

        began = time.perf_counter()
        await asyncio.gather(*(post(b) for b in bodies))
        bare = events / (time.perf_counter() - began)
    assert receiver.server is not None
    receiver.server.close()
    await receiver.server.wait_closed()
    return outbox, bare


def main() -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--events", type=int, default=2000)
    args = parser.parse_args()
    inbox = SlowInbox(delay=1.0)
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        smtp = {
            "smtp_host": "127.0.0.1",
            "smtp_port": port,
            "smtp_security": "none",
            "smtp_sender": "bench@example.com",
        }
        plain = asyncio.run(email_latencies(args.users, 0.1))
        optin = asyncio.run(email_latencies(args.users, 0.1, **smtp))
    finally:
        controller.stop()
    p99_plain, p99_optin = percentile(plain, 0.99), percentile(optin, 0.99)
    print(f"email reply, {args.users} prospects at once, 100 ms per Bot API call:")
    print(
        f"  single opt-in            p50 {percentile(plain, 0.5):6.0f} ms  p99 {p99_plain:6.0f} ms"
    )
    print(
        f"  double opt-in (1 s SMTP) p50 {percentile(optin, 0.5):6.0f} ms  p99 {p99_optin:6.0f} ms"
    )
    print(f"  mails the SMTP server took meanwhile: {inbox.count}")
    ratio = p99_optin / p99_plain
    print(f"  goal p99 ratio <= 2: {ratio:.2f} {'met' if ratio <= 2 else 'NOT met'}")
    outbox, bare = asyncio.run(webhooks(args.events))
    share = outbox / bare
    print(f"webhooks, {args.events} events to a local receiver, {IN_FLIGHT} in flight:")
    print(f"  from the outbox {outbox:7.0f} events/s; bare httpx {bare:7.0f} posts/s")
    print(f"  goal outbox/bare >= 0.5: {share:.2f} {'met' if share >= 0.5 else 'NOT met'}")
    return {"optin_p99_ratio": ratio, "webhook_share": share}


if __name__ == "__main__":
    main()
