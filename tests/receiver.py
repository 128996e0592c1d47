"""A real HTTP receiver on 127.0.0.1 for the webhook tests: it checks signatures on its own
(hmac and hashlib, not bot.outbox.crm), records events by id, and misbehaves when told to."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Delivery:
    """One accepted request."""

    path: str
    headers: dict[str, str]
    raw: bytes
    event: dict[str, Any] = field(default_factory=dict)


class Receiver:
    """Minimal HTTP/1.1 (keep-alive, Content-Length bodies) on a fixed port once started.

    mode: "ok" (2xx), "500" (forever), "redirect" (302 to /final), "hang" (no answer for
    `hang_seconds`, then the connection is closed). `fail_next` answers the next N with 500.
    """

    def __init__(self, secret: str, ok_status: int = 200) -> None:
        self.secret = secret.encode()
        self.ok_status = ok_status
        self.mode = "ok"
        self.fail_next = 0
        self.hang_seconds = 5.0
        self.port = 0
        self.accepted: list[Delivery] = []
        self.requests: list[tuple[str, str]] = []  # (path, event id) of every request seen
        self.rejected = 0  # bad signature or headers
        self.hanging = 0  # requests being held right now
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._release = asyncio.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def ids(self) -> list[str]:
        return [d.event["id"] for d in self.accepted]

    def types(self) -> list[str]:
        return [d.event["type"] for d in self.accepted]

    async def up(self) -> None:
        """Listen (again, on the same port once it has one)."""
        self._release = asyncio.Event()
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def down(self) -> None:
        """Stop listening and drop every open connection: connection refused from now on."""
        self._release.set()
        if self._server is not None:
            self._server.close()
            for writer in list(self._writers):
                writer.close()
            await self._server.wait_closed()
            self._server = None
        await asyncio.sleep(0)  # let the handlers see their connections close

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while line := await reader.readline():
                _method, path, _version = line.decode("latin-1").split(" ", 2)
                headers: dict[str, str] = {}
                while (h := await reader.readline()) not in (b"\r\n", b"\n", b""):
                    name, _, value = h.decode("latin-1").partition(":")
                    headers[name.strip().lower()] = value.strip()
                raw = await reader.readexactly(int(headers.get("content-length", "0")))
                answer = await self._answer(path, headers, raw)
                if answer is None:  # held, then hung up without a word
                    break
                status, extra = answer
                head = f"HTTP/1.1 {status} X\r\nContent-Length: 0\r\n{extra}\r\n"
                writer.write(head.encode())
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _answer(
        self, path: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, str] | None:
        self.requests.append((path, headers.get("x-aimant-event-id", "")))
        if self.mode == "hang":
            self.hanging += 1
            try:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._release.wait(), self.hang_seconds)
            finally:
                self.hanging -= 1
            return None
        if self.mode == "redirect" and path != "/final":  # /final would take it
            return 302, f"Location: http://127.0.0.1:{self.port}/final\r\n"
        if self.mode == "500" or self.fail_next > 0:
            self.fail_next = max(0, self.fail_next - 1)
            return 500, ""
        expected = "sha256=" + hmac.new(self.secret, raw, hashlib.sha256).hexdigest()
        given = headers.get("x-aimant-signature-256", "")
        try:
            event = json.loads(raw)
        except ValueError:
            event = {}
        if (
            not event
            or not hmac.compare_digest(expected, given)
            or headers.get("content-type") != "application/json"
            or headers.get("x-aimant-event") != event.get("type")
            or headers.get("x-aimant-event-id") != event.get("id")
        ):
            self.rejected += 1
            return 401, ""
        self.accepted.append(Delivery(path, headers, raw, event))
        return self.ok_status, ""


@contextlib.contextmanager
def receiver_in_thread(secret: str) -> Iterator[Receiver]:
    """A Receiver on its own event loop in a thread, for tests that block (a bot process)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    server = Receiver(secret)
    asyncio.run_coroutine_threadsafe(server.up(), loop).result(10)
    try:
        yield server
    finally:
        asyncio.run_coroutine_threadsafe(server.down(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
