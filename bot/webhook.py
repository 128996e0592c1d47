"""Webhook mode: a small HTTP server (stdlib asyncio) that Telegram POSTs updates to.

Each update is written to the inbox before Telegram gets its 200, so a crash after the answer
loses nothing (it is replayed at the next start) and Telegram's retries of an update it did
not see answered are skipped by update_id: the same guarantee as polling.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import signal
from typing import Any

from telegram import Update

from bot.app import ALLOWED_UPDATES, App, close_services, open_services, stop_services
from bot.intake import user_id_of
from bot.services import Services

log = logging.getLogger(__name__)

MAX_BODY = 1 << 20  # Telegram's updates are far smaller; anything bigger is not from Telegram
REASONS = {
    200: "OK",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Payload Too Large",
    500: "Internal Server Error",
}


class WebhookServer:
    """Receives updates on POST <path> (secret header checked); GET /health for monitoring."""

    def __init__(self, app: App, svc: Services) -> None:
        self.app, self.svc = app, svc
        settings = svc.settings
        assert settings.webhook_secret is not None
        self.secret = settings.webhook_secret.get_secret_value().encode()
        self.path = settings.webhook_path
        self.received = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One HTTP/1.1 request, then close."""
        try:
            status, body = await self._answer(reader)
        except (asyncio.IncompleteReadError, ValueError, ConnectionError):
            status, body = 400, {"ok": False, "error": "malformed request"}
        payload = json.dumps(body).encode()
        head = (
            f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
            "Connection: close\r\n\r\n"
        )
        try:
            writer.write(head.encode() + payload)
            await writer.drain()
            writer.close()
        except ConnectionError:
            pass

    async def _answer(self, reader: asyncio.StreamReader) -> tuple[int, dict[str, Any]]:
        request = (await reader.readline()).decode("latin-1").split()
        headers: dict[str, str] = {}
        while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        if len(request) < 2:
            return 400, {"ok": False, "error": "malformed request"}
        method, target = request[0], request[1].split("?")[0]
        if target == "/health":
            pending = len(await self.svc.store.inbox_pending())
            return 200, {"ok": True, "received": self.received, "pending": pending}
        if target != self.path:
            return 404, {"ok": False}
        if method != "POST":
            return 405, {"ok": False}
        given = headers.get("x-telegram-bot-api-secret-token", "").encode()
        if not hmac.compare_digest(given, self.secret):  # not Telegram: refused, nothing read
            log.warning("webhook request without the right secret token refused")
            return 403, {"ok": False}
        length = int(headers.get("content-length", "0"))
        if not 0 < length <= MAX_BODY:
            return 413 if length > MAX_BODY else 400, {"ok": False}
        raw = await reader.readexactly(length)
        try:
            data = json.loads(raw)
            if not isinstance(data, dict) or not 0 < data.get("update_id", 0) < 2**62:
                raise ValueError("no valid update_id")
            update = Update.de_json(data, self.app.bot)
        except Exception as exc:
            log.warning("malformed webhook body refused: %s", type(exc).__name__)
            return 400, {"ok": False, "error": "not an update"}
        try:  # kept before Telegram hears 200: a crash from here on loses nothing
            row = (update.update_id, user_id_of(update), json.dumps(data))
            await self.svc.store.inbox_save([row])
        except Exception:
            log.exception("could not keep webhook update %s", update.update_id)
            return 500, {"ok": False}
        await self.app.update_queue.put(update)
        self.received += 1
        return 200, {"ok": True}


async def run_webhook(app: App, svc: Services) -> None:
    """Start, register the webhook with Telegram, serve until SIGINT or SIGTERM, stop cleanly."""
    settings = svc.settings
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await app.initialize()
    await open_services(app)
    await app.start()
    server = WebhookServer(app, svc)
    listening = await asyncio.start_server(
        server.handle, settings.webhook_listen, settings.webhook_port
    )
    assert settings.webhook_url and settings.webhook_secret
    await app.bot.set_webhook(
        url=settings.webhook_url.rstrip("/") + settings.webhook_path,
        secret_token=settings.webhook_secret.get_secret_value(),
        allowed_updates=ALLOWED_UPDATES,
    )
    log.info(
        "webhook mode: listening on %s:%s%s for %s",
        settings.webhook_listen, settings.webhook_port, settings.webhook_path, settings.webhook_url,
    )  # fmt: skip
    try:
        await stop.wait()
    finally:
        listening.close()
        await listening.wait_closed()
        await app.stop()  # handles what was queued
        await stop_services(app)
        await app.shutdown()
        await close_services(app)
        log.info("stopped")
