"""Webhooks to other tools: posts the event outbox to every URL, signed like GitHub's webhooks."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import html
import logging
import time
from urllib.parse import urlsplit

import httpx
from telegram import Bot

from bot.alerts import notify_owners
from bot.pump import Pump
from bot.schedule import backoff
from bot.services import Services
from bot.store_hooks import Hook

log = logging.getLogger(__name__)

IN_FLIGHT = 8  # requests at once per URL
BATCH = 50  # heads (one per lead) read per round
SIGNATURE_HEADER = "X-Aimant-Signature-256"
PRUNE_EVERY = 3600  # seconds between two clean-ups of delivered events
NOTICE_EVERY = 3600  # seconds between two "events given up" notices to owners, per URL


def sign(secret: bytes, body: bytes) -> str:
    """The signature header value: `sha256=` and the hex HMAC-SHA256 of the body."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def host_of(url: str) -> str:
    """Host and port only: a URL may carry a token (path, query, user:password), logs never."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:  # never raises: it is what error paths log
        return "?"
    return f"[{host}]{port}" if ":" in host else f"{host}{port}"


class UrlSender(Pump):
    """One URL's queue, with its own pass: a slow or dead URL never holds back another."""

    def __init__(self, crm: CrmSender, url: str) -> None:
        super().__init__()
        self.crm, self.url = crm, url
        self.name = f"webhooks {host_of(url)}"

    async def pass_once(self) -> int:
        """Post what is due for this URL."""
        return await self.crm.pass_url(self)


class CrmSender(Pump):
    """Posts the webhook outbox to every CRM_WEBHOOK_URLS entry, each URL on its own."""

    name = "webhooks"

    def __init__(self, svc: Services, bot: Bot) -> None:
        super().__init__()
        self.svc, self.bot = svc, bot
        secret = svc.settings.crm_webhook_secret
        self._secret = secret.get_secret_value().encode() if secret is not None else b""
        self._timeout = svc.settings.crm_webhook_timeout
        # A redirect is never followed: a signed body only goes where the owner said.
        self._client = httpx.AsyncClient(timeout=self._timeout, follow_redirects=False)
        self._pruned_at = -float(PRUNE_EVERY)
        self.senders = [UrlSender(self, url) for url in svc.settings.crm_webhook_urls]
        self._given_up: dict[str, tuple[int, str]] = {}  # per URL: count and last error
        self._noticed_at: dict[str, float] = {}

    def kick(self) -> None:
        """Events were committed: every URL's pass starts (each on its own)."""
        for sender in self.senders:
            sender.kick()

    async def tick(self) -> None:
        """One pass for every URL, at once; returns when all are done (tests)."""
        await asyncio.gather(*(sender.tick() for sender in self.senders))

    async def pass_once(self) -> int:
        """Not used: each URL has its own pass (UrlSender)."""
        await self.tick()
        return 0

    async def drain(self) -> None:
        """Wait for kicked passes of every URL."""
        await asyncio.gather(*(sender.drain() for sender in self.senders))

    async def stop(self) -> None:
        """No new passes; let running ones finish their in-flight posts, then disconnect."""
        self._stopped = True
        await asyncio.gather(*(sender.stop() for sender in self.senders))
        await self._client.aclose()

    async def pass_url(self, sender: UrlSender) -> int:
        """Rounds of heads until nothing more is due: a lead's next event goes right after."""
        store, limit, url = self.svc.store, asyncio.Semaphore(IN_FLIGHT), sender.url
        tried: set[int] = set()  # one attempt per event per pass, whatever happens
        if time.monotonic() - self._pruned_at >= PRUNE_EVERY:  # finished rows: kept 30 days
            self._pruned_at = time.monotonic()
            await store.prune_hooks()

        async def one(hook: Hook) -> None:
            async with limit:
                if sender._stopped:  # shutting down: the rest waits for the next start
                    return
                try:
                    body = await store.pending_body(hook)  # fresh: erased while it waited?
                    if body is None:
                        return
                    error = await self._post(hook, body)
                except Exception as exc:  # still an attempt: backoff and the window apply
                    log.exception("webhook %s: event %s failed", host_of(url), hook.event_id)
                    error = f"unexpected error ({type(exc).__name__})"
                try:
                    await self._outcome(hook, error)
                except Exception:  # one bad row never stops the others; the next pass retries
                    log.exception("webhook %s: event %s not recorded", host_of(url), hook.event_id)

        while not sender._stopped:
            due = [h for h in await store.due_hooks(url, BATCH) if h.id not in tried]
            if not due:
                break
            tried.update(h.id for h in due)
            await asyncio.gather(*(one(h) for h in due))
        await self._tell_owners(url)
        return len(tried)

    async def _outcome(self, hook: Hook, error: str | None) -> None:
        """Sent, retried later, or given up after the retry window."""
        store = self.svc.store
        now = store.now()
        if error is None:
            await store.hook_sent(hook)
        elif now - hook.created_at < self.svc.settings.crm_webhook_retry_hours * 3600:
            await store.hook_retry(hook, now + backoff(hook.attempts + 1, base=10, cap=1800), error)
        elif await store.hook_failed(hook, error):
            count, _ = self._given_up.get(hook.url, (0, ""))
            self._given_up[hook.url] = (count + 1, error)

    async def _post(self, hook: Hook, text: str) -> str | None:
        """One POST of the stored body; None when the URL took it (2xx), else what went wrong."""
        body = text.encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Aimant-Webhooks/1",
            "X-Aimant-Event": hook.type,
            "X-Aimant-Event-Id": hook.event_id,
            SIGNATURE_HEADER: sign(self._secret, body),
        }
        host = host_of(hook.url)
        try:
            async with asyncio.timeout(self._timeout):  # the whole exchange, not each read
                request = self._client.stream("POST", hook.url, content=body, headers=headers)
                async with request as response:  # the answer's body is never read
                    status, location = response.status_code, response.headers.get("location")
        except (TimeoutError, httpx.TimeoutException):
            error, short = f"no answer within {self._timeout:g} s", "timeout"
        except (httpx.HTTPError, httpx.InvalidURL, OSError, ValueError) as exc:
            short = type(exc).__name__
            error = f"{short}: {str(exc).replace(hook.url, host)}"[:300]
        else:
            if 200 <= status < 300:
                return None
            if 300 <= status < 400:
                short = f"redirect {status}"
                error = f"redirected ({status}) to {location or '?'}; set the final URL"
            else:
                error = short = f"HTTP {status}"
        log.warning("webhook %s: %s %s failed (%s)", host, hook.type, hook.event_id, short)
        return error

    async def _tell_owners(self, url: str) -> None:
        """Events given up since the last notice: at most one notice per URL per hour."""
        count, error = self._given_up.get(url, (0, ""))
        if not count or time.monotonic() - self._noticed_at.get(url, -NOTICE_EVERY) < NOTICE_EVERY:
            return
        self._noticed_at[url] = time.monotonic()
        del self._given_up[url]
        text = self.svc.texts.get(
            self.svc.texts.default,
            "owner_hook_failed",
            host=html.escape(host_of(url)),
            count=str(count),
            hours=f"{self.svc.settings.crm_webhook_retry_hours:g}",
            error=html.escape(error[:300]),
        )
        try:
            await notify_owners(self.bot, self.svc, text)
        except Exception:
            log.exception("webhook %s: owners not told", host_of(url))
