"""Webhook mode: starlette + uvicorn serve the updates Telegram POSTs, with every resource bounded.

Each update is written to the inbox before Telegram gets its 200, so a crash after the answer
loses nothing (it is replayed at the next start) and Telegram's retries of an update it did
not see answered are skipped by update_id: the same guarantee as polling. In shared mode
(several processes on PostgreSQL, behind a load balancer) any process may receive an update:
the shared inbox's dispatcher (bot.telegram.cluster) hands it to a process free for its person.

What a stranger can make the server hold is bounded: 16 KB of headers, 1 MB of body, a few
seconds to send a whole request, and a number of connections well below the open-files limit.
Refusals are counted and summarised in one log line per minute, never one line per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import os
import resource
import signal
import socket
import time
from collections import Counter
from collections.abc import Iterator
from http import HTTPStatus
from typing import Any, ClassVar, NamedTuple

import h11
import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send
from telegram import Update
from uvicorn.protocols.http.h11_impl import H11Protocol

from bot.app import ALLOWED_UPDATES, App, close_services, open_services, stop_services
from bot.services import Services
from bot.store.intake import person_key
from bot.telegram.cluster import Cluster
from bot.telegram.intake import set_aside, user_id_of

log = logging.getLogger(__name__)
# uvicorn's per-request warnings ("Invalid HTTP request received."...) would let anyone fill
# the log: connections log through this logger, which lets only errors through.
http_log = logging.getLogger("bot.telegram.webhook.http")
http_log.setLevel(logging.ERROR)

MAX_BODY = 1 << 20  # Telegram's updates are far smaller; anything bigger is not from Telegram
MAX_HEAD = 16 << 10  # request line and headers; Telegram sends well under 1 KB
REPORT_EVERY = 60.0  # seconds between two summaries of refused requests
RESERVED_FILES = 256  # open files kept for the database, the Bot API client and the logs
SECRET_HEADER = "x-telegram-bot-api-secret-token"
CLOSE = {"Connection": "close"}
REASONS = (
    "wrong secret",
    "too large",
    "timed out",
    "too many connections",
    "malformed",
    "unknown path",
)


class Refusals:
    """Refused requests counted by reason, logged as one summary line per interval."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.since = time.monotonic()

    def add(self, reason: str) -> None:
        """Count one refusal (never logged on its own)."""
        self.counts[reason] += 1

    def report(self) -> None:
        """Log what was refused since the last report, if anything, and start again."""
        now, since = time.monotonic(), self.since
        self.since = now
        if not self.counts:
            return
        parts = ", ".join(f"{self.counts[r]:,} {r}" for r in REASONS if self.counts[r])
        total = f"{sum(self.counts.values()):,}"
        log.warning("webhook refused %s request(s) in %.0f s: %s", total, now - since, parts)
        self.counts.clear()

    async def run(self, every: float) -> None:
        """Report every `every` seconds until cancelled."""
        while True:
            await asyncio.sleep(every)
            self.report()


class Guard:
    """What all connections share: the read deadline, the connection cap and the refusals."""

    def __init__(self, refusals: Refusals, read_timeout: float, max_connections: int) -> None:
        self.refusals, self.read_timeout = refusals, read_timeout
        self.max_connections = max_connections
        # Connections still reading a request, oldest deadline first: the first to go when full.
        self.reading: dict[GuardedH11, None] = {}

    def admit(self, conn: GuardedH11) -> bool:
        """Make room for a new connection by closing the slowest reader, or refuse it."""
        if len(conn.connections) <= self.max_connections:
            return True
        self.refusals.add("too many connections")
        if not self.reading:  # every connection is being answered: the newcomer is closed
            return False
        oldest = next(iter(self.reading))
        oldest.disarm()
        oldest.transport.abort()
        return True


class GuardedH11(H11Protocol):
    """uvicorn's h11 connection with a deadline for each request, a cap and quiet refusals."""

    guard: ClassVar[Guard]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.logger = http_log
        self.deadline: asyncio.TimerHandle | None = None
        self.head_bytes = 0  # bytes received while the request head was incomplete
        self.idle = False  # answered and waiting for nothing: closing it is not a refusal

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Admit (or refuse) the connection and start the clock for its first request."""
        super().connection_made(transport)
        if not self.guard.admit(self):
            transport.abort()
            return
        self.arm()

    def connection_lost(self, exc: Exception | None) -> None:
        """Forget the connection's deadline."""
        self.disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """Feed h11, noting the head's size; stop the clock once the request is complete."""
        self.idle = False
        if self.conn.their_state is h11.IDLE:
            self.head_bytes += len(data)
        super().data_received(data)
        self.settle()

    def on_response_complete(self) -> None:
        """The next request on this connection gets its own deadline."""
        self.head_bytes, self.idle = 0, True
        if not self.transport.is_closing():
            self.arm()
        super().on_response_complete()  # may run a pipelined request that is complete already
        self.settle()

    def shutdown(self) -> None:
        """Stopping: a request still arriving is dropped (Telegram resends it), others finish."""
        if self in self.guard.reading:
            self.disarm()
            self.transport.abort()
            return
        super().shutdown()

    def arm(self) -> None:
        """(Re)start the clock: the whole request must arrive within the read timeout."""
        self.disarm()
        self.deadline = self.loop.call_later(self.guard.read_timeout, self.expire)
        self.guard.reading[self] = None

    def disarm(self) -> None:
        """Stop the clock (request complete, or connection gone)."""
        if self.deadline is not None:
            self.deadline.cancel()
            self.deadline = None
        self.guard.reading.pop(self, None)

    def settle(self) -> None:
        """Disarm once the client has sent its whole request."""
        if self.conn.their_state in (h11.DONE, h11.MUST_CLOSE, h11.CLOSED):
            self.disarm()

    def expire(self) -> None:
        """Too slow: drop the connection (abort, so a client that does not read cannot hold it)."""
        self.deadline = None
        self.guard.reading.pop(self, None)
        if not self.idle:
            self.guard.refusals.add("timed out")
        self.transport.abort()

    def send_400_response(self, msg: str) -> None:
        """h11 refused the request: 431 for an oversized head, else 400; counted, not logged."""
        too_big = self.head_bytes > MAX_HEAD
        self.guard.refusals.add("too large" if too_big else "malformed")
        status = HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE if too_big else HTTPStatus.BAD_REQUEST
        headers = [(b"content-type", b"application/json"), (b"connection", b"close")]
        events: list[h11.Event] = [
            h11.Response(status_code=status, headers=headers, reason=status.phrase),
            h11.Data(data=b'{"ok": false}'),
            h11.EndOfMessage(),
        ]
        with contextlib.suppress(h11.LocalProtocolError):  # a response had begun: just close
            for event in events:
                self.transport.write(self.conn.send(event) or b"")
        self.transport.close()


def head_size(scope: Scope) -> int:
    """Bytes of the request head as received (approximately: names, values and separators)."""
    return len(scope["raw_path"]) + sum(len(k) + len(v) + 4 for k, v in scope["headers"])


class WebhookServer:
    """Receives updates on POST <path> (secret header checked); GET /health for monitoring."""

    def __init__(self, app: App, svc: Services, refusals: Refusals | None = None) -> None:
        self.app, self.svc = app, svc
        settings = svc.settings
        assert settings.webhook_secret is not None
        self.secret = settings.webhook_secret.get_secret_value().encode()
        self.received = 0
        self.refusals = refusals or Refusals()
        refuse = {404: self.not_found, 405: self.not_found}
        self.routes = Starlette(
            routes=[
                Route(settings.webhook_path, self.update, methods=["POST"]),
                Route("/health", self.health, methods=["GET"]),
            ],
            exception_handlers=refuse,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The ASGI entry: heads h11 let through in one piece are still held to MAX_HEAD."""
        if scope["type"] == "http" and head_size(scope) > MAX_HEAD:
            self.refusals.add("too large")
            await JSONResponse({"ok": False}, 431, headers=CLOSE)(scope, receive, send)
            return
        await self.routes(scope, receive, send)

    async def not_found(self, request: Request, exc: Exception) -> Response:
        """404 / 405, as JSON like everything else; counted for the summary."""
        self.refusals.add("unknown path")
        status = exc.status_code if isinstance(exc, HTTPException) else 404
        return JSONResponse({"ok": False}, status)

    async def health(self, request: Request) -> Response:
        """For monitoring: updates received since start and updates still waiting (a COUNT);
        in shared mode also whether this process leads and how many updates it handled."""
        pending = await self.svc.store.intake.pending_count()
        body: dict[str, Any] = {"ok": True, "received": self.received, "pending": pending}
        cluster: Cluster | None = self.app.bot_data.get("cluster")
        if cluster is not None:
            body["leader"] = cluster.leading
            body["pid"] = os.getpid()
            body["handled"] = cluster.dispatcher.handed if cluster.dispatcher else 0
        return JSONResponse(body)

    async def update(self, request: Request) -> Response:
        """One update from Telegram: secret, size, shape, kept, queued; 200 only once kept."""
        given = request.headers.get(SECRET_HEADER, "").encode("latin-1")
        if not hmac.compare_digest(given, self.secret):  # not Telegram: refused, body not read
            self.refusals.add("wrong secret")
            return JSONResponse({"ok": False}, 403, headers=CLOSE)
        declared = request.headers.get("content-length")
        if declared is not None and int(declared) > MAX_BODY:  # h11 checked it is a number
            self.refusals.add("too large")
            return JSONResponse({"ok": False}, 413, headers=CLOSE)
        try:
            raw = await read_body(request, MAX_BODY)
        except ClientDisconnect:  # gone (or cut by the read deadline): nobody to answer
            return Response(status_code=400)
        if raw is None:
            self.refusals.add("too large")
            return JSONResponse({"ok": False}, 413, headers=CLOSE)
        return await self.accept(raw)

    async def accept(self, raw: bytes) -> Response:
        """Parse, keep in the inbox, queue for the handlers."""
        try:
            data = json.loads(raw)
            update_id = data.get("update_id") if isinstance(data, dict) else None
            # An integer, as Telegram sends it: 5.5 or true would fail the inbox's key (a 500
            # Telegram retries) or stand for another update.
            if type(update_id) is not int or not 0 < update_id < 2**62:
                raise ValueError("no valid update_id")
        except Exception as exc:  # the right secret: Telegram (or its owner) should hear of it
            log.warning("malformed webhook body refused: %s", type(exc).__name__)
            return JSONResponse({"ok": False, "error": "not an update"}, 400)
        try:
            update = Update.de_json(data, self.app.bot)
        except Exception as exc:  # not an update for this PTB: kept aside (once), then a 400
            try:
                await set_aside(self.svc.store, data, exc)
            except Exception:
                log.exception("could not keep webhook update %s", data["update_id"])
                return JSONResponse({"ok": False}, 500)
            return JSONResponse({"ok": False, "error": "not an update"}, 400)
        try:  # kept before Telegram hears 200: a crash from here on loses nothing
            row = (update.update_id, user_id_of(update), json.dumps(data))
            await self.svc.store.intake.save([row])
        except Exception:
            log.exception("could not keep webhook update %s", update.update_id)
            return JSONResponse({"ok": False}, 500)
        cluster: Cluster | None = self.app.bot_data.get("cluster")
        if cluster is not None and cluster.dispatcher is not None:
            # Shared mode: this process tries first; whichever is free for the person takes it.
            cluster.dispatcher.arrived(person_key(user_id_of(update), update.update_id))
        else:
            await self.app.update_queue.put(update)
        self.received += 1
        return JSONResponse({"ok": True})


async def read_body(request: Request, limit: int) -> bytes | None:
    """The body, or None as soon as it grows past `limit` (chunked bodies have no length)."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


def raise_open_files_limit() -> int:
    """Lift the soft open-files limit to the hard one (1,024 by default); return the limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = 1 << 20 if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < target:
        with contextlib.suppress(ValueError, OSError):  # not allowed here: keep what we have
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
    return soft if soft != resource.RLIM_INFINITY else 1 << 20


class Limits(NamedTuple):
    """How much the server may hold: seconds per request, open connections, accept queue."""

    read_timeout: float
    max_connections: int
    backlog: int  # also how many connections one accept round takes before any is refused


def limits_for(read_timeout: float, wanted: int, open_files: int) -> Limits:
    """At most `wanted` connections, and even a full accept round leaves files for the rest."""
    cap = max(8, min(wanted, open_files - RESERVED_FILES, open_files // 2))
    backlog = max(16, min(2048, open_files - cap - RESERVED_FILES))
    return Limits(read_timeout, cap, backlog)


class QuietServer(uvicorn.Server):
    """uvicorn without its own signal handling: run_webhook owns SIGINT and SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Leave the signal handlers alone."""
        yield


def build_server(server: WebhookServer, limits: Limits) -> tuple[QuietServer, Guard]:
    """uvicorn for an already bound socket, with the guarded protocol and no access log."""
    guard = Guard(server.refusals, limits.read_timeout, limits.max_connections)
    protocol = type("Guarded", (GuardedH11,), {"guard": guard})
    config = uvicorn.Config(
        server,
        http=protocol,
        ws="none",
        lifespan="off",
        interface="asgi3",
        log_config=None,
        access_log=False,
        server_header=False,
        proxy_headers=False,
        h11_max_incomplete_event_size=MAX_HEAD,
        timeout_keep_alive=5,
        timeout_graceful_shutdown=int(limits.read_timeout) + 5,
        backlog=limits.backlog,
    )
    uvicorn_log = logging.getLogger("uvicorn.error")  # start and stop chatter: ours says it
    uvicorn_log.setLevel(max(uvicorn_log.getEffectiveLevel(), logging.WARNING))
    return QuietServer(config), guard


def bind(host: str, port: int, backlog: int) -> socket.socket:
    """Listen on host:port, or stop with one clear line."""
    try:
        return socket.create_server((host, port), backlog=backlog)
    except OSError as exc:
        log.critical("cannot listen on %s:%s: %s", host, port, exc.strerror or exc)
        raise SystemExit(2) from None


async def run_webhook(app: App, svc: Services, report_every: float = REPORT_EVERY) -> None:
    """Start, register the webhook with Telegram, serve until SIGINT or SIGTERM, stop cleanly."""
    settings = svc.settings
    open_files = raise_open_files_limit()
    limits = limits_for(settings.webhook_read_timeout, settings.webhook_max_connections, open_files)
    sock = bind(settings.webhook_listen, settings.webhook_port, limits.backlog)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await app.initialize()
    await open_services(app)
    await app.start()
    receiver = WebhookServer(app, svc)
    server, _ = build_server(receiver, limits)
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    reporting = asyncio.create_task(receiver.refusals.run(report_every))
    assert settings.webhook_url and settings.webhook_secret
    try:
        await app.bot.set_webhook(
            url=settings.webhook_url.rstrip("/") + settings.webhook_path,
            secret_token=settings.webhook_secret.get_secret_value(),
            allowed_updates=ALLOWED_UPDATES,
        )
        log.info(
            "webhook mode: listening on %s:%s%s for %s (at most %d connections)",
            settings.webhook_listen, settings.webhook_port, settings.webhook_path,
            settings.webhook_url, limits.max_connections,
        )  # fmt: skip
        await stop.wait()
    finally:
        server.should_exit = True
        await serving
        reporting.cancel()
        receiver.refusals.report()  # what the last interval refused
        await app.stop()  # handles what was queued
        await stop_services(app)
        await app.shutdown()
        await close_services(app)
        log.info("stopped")
