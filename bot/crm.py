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


def sign(secret: bytes, body: bytes) -> str:
    """The signature header value: `sha256=` and the hex HMAC-SHA256 of the body."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def host_of(url: str) -> str:
    """Host and port only: a URL may carry a token (path, query, user:password), logs never."""
    parts = urlsplit(url)
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    host = parts.hostname or "?"
    return f"[{host}]{port}" if ":" in host else f"{host}{port}"


class CrmSender(Pump):
    """Posts the webhook outbox to every CRM_WEBHOOK_URLS entry."""

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

    async def pass_once(self) -> int:
        """Post what is due, every URL at once; returns how many events were handled."""
        if time.monotonic() - self._pruned_at >= PRUNE_EVERY:  # delivered rows: kept 30 days
            self._pruned_at = time.monotonic()
            await self.svc.store.prune_hooks()
        urls = self.svc.settings.crm_webhook_urls
        results = await asyncio.gather(*(self._pass_url(u) for u in urls), return_exceptions=True)
        for url, result in zip(urls, results, strict=True):
            if isinstance(result, Exception):  # the others went on; the next tick retries
                log.error("webhook %s: pass failed (%s)", host_of(url), type(result).__name__)
        return sum(r for r in results if isinstance(r, int))

    async def stop(self) -> None:
        """No new passes; let the running one finish its in-flight posts, then disconnect."""
        await super().stop()
        await self._client.aclose()

    async def _pass_url(self, url: str) -> int:
        """Rounds of heads until nothing more is due: a lead's next event goes right after."""
        store, limit = self.svc.store, asyncio.Semaphore(IN_FLIGHT)
        tried: set[int] = set()  # one attempt per event per pass, whatever happens
        given_up: list[str] = []

        async def one(hook: Hook) -> None:
            async with limit:
                try:
                    error = await self._post(hook)
                    now = store.now()
                    if error is None:
                        await store.hook_sent(hook.id)
                    elif now - hook.created_at < self.svc.settings.crm_webhook_retry_hours * 3600:
                        next_at = now + backoff(hook.attempts + 1, base=10, cap=1800)
                        await store.hook_retry(hook.id, next_at, error)
                    else:
                        await store.hook_failed(hook.id, error)
                        given_up.append(error)
                except Exception:  # one bad row never stops the others
                    log.exception("webhook %s: event %s not handled", host_of(url), hook.event_id)

        while not self._stopped:
            due = [h for h in await store.due_hooks(url, BATCH) if h.id not in tried]
            if not due:
                break
            tried.update(h.id for h in due)
            await asyncio.gather(*(one(h) for h in due))
        if given_up:
            await self._tell_owners(url, len(given_up), given_up[-1])
        return len(tried)

    async def _post(self, hook: Hook) -> str | None:
        """One POST of the stored body; None when the URL took it (2xx), else what went wrong."""
        if hook.body is None:
            return "no body stored"
        body = hook.body.encode()
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

    async def _tell_owners(self, url: str, count: int, error: str) -> None:
        """One notice per URL per pass: how many events were given up, and why (no lead data)."""
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
