"""Webhooks to other tools: posts the event outbox to every URL, signed like GitHub's webhooks."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import html
import logging
import time
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urljoin, urlsplit

import httpx
from telegram import Bot

from bot.nurture.schedule import backoff
from bot.outbox.pump import Pump
from bot.owner.alerts import notify_owners
from bot.services import Services
from bot.store.hooks import Hook

log = logging.getLogger(__name__)

IN_FLIGHT = 8  # requests at once per URL
BATCH = 50  # heads (one per lead) read per round
SIGNATURE_HEADER = "X-Aimant-Signature-256"
PRUNE_EVERY = 3600  # seconds between two clean-ups of delivered events
NOTICE_EVERY = 3600  # seconds between two "events given up" notices to owners, per URL
FAILING_PASSES = 3  # passes in a row that failed: the URL is failing, owners hear of it
FAILING_SECONDS = 300  # or failing for this long, whichever comes first


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


def redacted(url: str) -> str:
    """`https://host/…`: what a URL may show in a notice (a path or query may hold a token)."""
    scheme = urlsplit(url).scheme if "://" in url else ""
    return f"{scheme}://{host_of(url)}/…" if scheme else "?"


@dataclass
class UrlHealth:
    """One URL as owners see it: delivering, or failing since when, and what they were told."""

    failures: int = 0  # passes in a row where posts failed and none was delivered
    failing_since: int | None = None  # store time of the first failure of this streak
    error: str = ""  # the latest failure
    delivered_at: int | None = None  # store time of the latest delivery
    noticed_at: int | None = None  # store time of the latest "failing" notice
    told: bool = False  # owners were told of this streak: they hear of the recovery too


def record_pass(health: UrlHealth, delivered: int, error: str | None, now: int) -> None:
    """A pass's outcome: any delivery ends a failing streak; only failures extend it."""
    if delivered:
        health.failures, health.failing_since, health.delivered_at = 0, None, now
    elif error is not None:
        health.failures += 1
        health.failing_since = health.failing_since or now
        health.error = error


def failing_notice_due(health: UrlHealth, now: int) -> bool:
    """Tell owners once per failing streak, when it persists (3 passes or 5 minutes), and at
    most once an hour per URL (a flapping URL does not flood the chat)."""
    if health.failing_since is None or health.told:
        return False
    persistent = health.failures >= FAILING_PASSES or now - health.failing_since >= FAILING_SECONDS
    quiet = health.noticed_at is None or now - health.noticed_at >= NOTICE_EVERY
    return persistent and quiet


def local_time(svc: Services, when: int) -> str:
    """`2026-12-01 14:05` in the business's time zone."""
    return datetime.fromtimestamp(when, svc.settings.zone).strftime("%Y-%m-%d %H:%M")


async def url_lines(svc: Services) -> list[str]:
    """/stats: a line per webhook URL (host only): delivering, or failing since when and why,
    and how many events wait for it."""
    crm = svc.running.crm if svc.running else None
    if crm is None:
        return []
    waiting, lines = await svc.store.hooks.waiting(), []
    for url in svc.settings.crm_webhook_urls:
        health = crm.health.get(url, UrlHealth())
        values = {"host": html.escape(host_of(url)), "waiting": str(waiting.get(url, 0))}
        if health.failing_since is not None:
            key = "stats_hook_failing"
            values["since"] = local_time(svc, health.failing_since)
            values["error"] = html.escape(health.error[:120])
        else:
            key = "stats_hook_ok" if health.delivered_at is not None else "stats_hook_idle"
        lines.append(svc.texts.get(svc.owner_lang, key, **values))
    return lines


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
        # In memory: after a restart a URL's state is known again at its next attempt.
        self.health = {url: UrlHealth() for url in svc.settings.crm_webhook_urls}
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

    def halt(self) -> None:
        """The lead lost: every URL's pass posts no more (posts under way finish)."""
        super().halt()
        for sender in self.senders:
            sender.halt()

    async def stop(self) -> None:
        """No new passes; let running ones finish their in-flight posts, then disconnect."""
        self._stopped = True
        await asyncio.gather(*(sender.stop() for sender in self.senders))
        await self._client.aclose()

    async def pass_url(self, sender: UrlSender) -> int:
        """Rounds of heads until nothing more is due: a lead's next event goes right after."""
        store, limit, url = self.svc.store, asyncio.Semaphore(IN_FLIGHT), sender.url
        tried: set[int] = set()  # one attempt per event per pass, whatever happens
        delivered, failure = 0, None
        if time.monotonic() - self._pruned_at >= PRUNE_EVERY:  # finished rows: kept 30 days
            self._pruned_at = time.monotonic()
            await store.hooks.prune()

        async def one(hook: Hook) -> None:
            nonlocal delivered, failure
            async with limit:
                if sender._stopped:  # shutting down: the rest waits for the next start
                    return
                try:
                    body = await store.hooks.pending_body(hook)  # fresh: erased while it waited?
                    if body is None:
                        return
                    error = await self._post(hook, body)
                except Exception as exc:  # still an attempt: backoff and the window apply
                    log.exception("webhook %s: event %s failed", host_of(url), hook.event_id)
                    error = f"unexpected error ({type(exc).__name__})"
                if error is None:
                    delivered += 1
                else:
                    failure = error
                try:
                    await self._outcome(hook, error)
                except Exception:  # one bad row never stops the others; the next pass retries
                    log.exception("webhook %s: event %s not recorded", host_of(url), hook.event_id)

        while not sender._stopped:
            due = [h for h in await store.hooks.due(url, BATCH) if h.id not in tried]
            if not due:
                break
            tried.update(h.id for h in due)
            await asyncio.gather(*(one(h) for h in due))
        await self._health_notices(url, delivered, failure)
        await self._tell_owners(url)
        return len(tried)

    async def _health_notices(self, url: str, delivered: int, error: str | None) -> None:
        """Owners hear when a URL starts failing for good (not at the give-up, 24 h later),
        and when it delivers again."""
        health, now = self.health.setdefault(url, UrlHealth()), self.svc.store.now()
        recovered = bool(delivered) and health.told
        record_pass(health, delivered, error, now)
        key = ""
        if failing_notice_due(health, now):
            health.noticed_at, health.told, key = now, True, "owner_hook_failing"
        elif recovered:
            health.told, key = False, "owner_hook_recovered"
        if not key:
            return
        text = self.svc.texts.get(
            self.svc.owner_lang,
            key,
            host=html.escape(host_of(url)),
            since=local_time(self.svc, health.failing_since or now),
            hours=f"{self.svc.settings.crm_webhook_retry_hours:g}",
            error=html.escape(health.error[:300]),
        )
        try:
            await notify_owners(self.bot, self.svc, text)
        except Exception:
            log.exception("webhook %s: owners not told", host_of(url))

    async def _outcome(self, hook: Hook, error: str | None) -> None:
        """Sent, retried later, or given up after the retry window."""
        store = self.svc.store
        now = store.now()
        if error is None:
            await store.hooks.sent(hook)
        elif now - hook.created_at < self.svc.settings.crm_webhook_retry_hours * 3600:
            await store.hooks.retry(
                hook, now + backoff(hook.attempts + 1, base=10, cap=1800), error
            )
        elif await store.hooks.failed(hook, error):
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
                where = redacted(urljoin(hook.url, location)) if location else "?"
                error = f"redirected ({status}) to {where}; set the final URL"
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
        text = self.svc.texts.count(
            self.svc.owner_lang,
            "owner_hook_failed",
            count,
            host=html.escape(host_of(url)),
            hours=f"{self.svc.settings.crm_webhook_retry_hours:g}",
            error=html.escape(error[:300]),
        )
        try:
            await notify_owners(self.bot, self.svc, text)
        except Exception:
            log.exception("webhook %s: owners not told", host_of(url))
