"""The nurture dispatcher: sends due tips from the SQLite schedule, at most once each.

PTB's JobQueue only wakes it up; the `tips` table is the truth, so restarts lose nothing.
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from datetime import timedelta
from zoneinfo import ZoneInfo

from aiolimiter import AsyncLimiter
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter

from bot.schedule import backoff, next_send_time
from bot.services import Services
from bot.store_tips import DueTip

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5  # transient errors (5xx, timeouts) before a tip is given up
IN_FLIGHT = 8  # concurrent sends: enough to reach the rate with ~100-300 ms per call
BATCH = 500  # tips taken per tick


def retry_after_seconds(error: RetryAfter) -> float:
    """`retry_after` in seconds, whichever type this PTB version returns."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PTB 22 warns that the type will become timedelta
        value = error.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class Nurture:
    """Schedules each lead's next tip and sends the ones that are due."""

    def __init__(self, svc: Services, bot: Bot, bulk: AsyncLimiter) -> None:
        self.svc, self.bot = svc, bot
        self._limiter = (
            bulk  # shared with broadcasts: together they stay under Telegram's bulk limit
        )
        self._paused_until = 0.0
        self._tick_lock = asyncio.Lock()

    def _zone(self, timezone: str | None) -> ZoneInfo:
        return ZoneInfo(timezone) if timezone else self.svc.settings.zone

    async def schedule_next(self, user_id: int, magnet_id: str, after: float) -> bool:
        """Schedule the magnet's next tip this person has not had, its delay after `after`."""
        store, magnet = self.svc.store, self.svc.catalogue.get(magnet_id)
        if magnet is None:
            return False
        done = await store.scheduled_tip_ids(user_id, magnet_id)
        tip = next((t for t in magnet.tips if t.id not in done), None)
        if tip is None:
            return False
        lead = await store.get_lead(user_id)
        zone = self._zone(lead.timezone if lead else None)
        due = next_send_time(after + tip.delay_seconds, self.svc.settings.window, zone)
        return await store.schedule_tip(user_id, magnet_id, tip.id, due)

    async def recover(self) -> int:
        """At start-up: tips in flight when the process died become `unknown`; sequences go on."""
        lost = await self.svc.store.recover_in_flight()
        for user_id, magnet_id, tip_id in lost:
            log.warning(
                "tip %s/%s to %s was in flight at a crash: marked unknown",
                magnet_id,
                tip_id,
                user_id,
            )
            await self.schedule_next(user_id, magnet_id, self.svc.clock())
        return len(lost)

    async def tick(self) -> int:
        """Send every tip due now (within sending hours); returns how many were sent."""
        async with self._tick_lock:  # a slow tick and the next one must not overlap
            now = self.svc.clock()
            if now < self._paused_until:
                return 0
            due = await self.svc.store.due_tips(int(now), BATCH)
            if not due:
                return 0
            gate = asyncio.Semaphore(IN_FLIGHT)

            async def one(tip: DueTip) -> bool:
                async with gate:
                    return await self._send(tip)

            results = await asyncio.gather(*(one(t) for t in due))
            sent = sum(results)
            log.info("nurture tick: %d tip(s) sent of %d due", sent, len(due))
            return sent

    async def _send(self, tip: DueTip) -> bool:
        svc, store = self.svc, self.svc.store
        now = svc.clock()
        opening = next_send_time(now, svc.settings.window, self._zone(tip.timezone))
        if opening > now:  # night: wait for the morning
            await store.postpone_tip(tip, opening)
            return False
        content = svc.catalogue.tip(tip.magnet_id, tip.tip_id)
        if content is None:  # removed from the catalogue since it was scheduled: skip it
            if await store.claim_tip(tip):
                await store.tip_not_sent(tip, retry_at=None)
                await self.schedule_next(tip.user_id, tip.magnet_id, now)
            return False
        if now < self._paused_until or not await store.claim_tip(tip):
            return False
        lang, default = svc.texts.lang_for(tip.language), svc.texts.default
        rows = []
        if content.cta:
            label = (
                content.cta.get(lang)
                or content.cta.get(default)
                or next(iter(content.cta.values()))
            )
            rows.append(
                [InlineKeyboardButton(label, callback_data=f"pln:{tip.magnet_id}:{tip.tip_id}")]
            )
        rows.append(
            [InlineKeyboardButton(svc.texts.get(lang, "btn_stop_tips"), callback_data="stp")]
        )
        text = (
            content.text.get(lang) or content.text.get(default) or next(iter(content.text.values()))
        )
        try:
            async with self._limiter:
                message = await self.bot.send_message(
                    tip.user_id, text, reply_markup=InlineKeyboardMarkup(rows)
                )
        except RetryAfter as exc:
            wait = retry_after_seconds(exc)
            self._paused_until = max(self._paused_until, svc.clock() + wait)
            await store.tip_not_sent(tip, retry_at=int(svc.clock() + wait) + 1)
            log.warning("Telegram asked to slow down: tips paused for %.0f s", wait)
            return False
        except Forbidden:
            await store.tip_not_sent(tip, retry_at=None)
            await store.mark_blocked(tip.user_id)
            log.info("%s blocked the bot: their tips are cancelled", tip.user_id)
            return False
        except BadRequest as exc:
            await store.tip_not_sent(tip, retry_at=None)
            if "chat not found" in str(exc).lower():
                await store.mark_blocked(tip.user_id)
            else:
                log.error("tip %s/%s refused by Telegram: %s", tip.magnet_id, tip.tip_id, exc)
                await self.schedule_next(tip.user_id, tip.magnet_id, now)
            return False
        except NetworkError as exc:  # 5xx, timeouts, connection resets
            attempts = tip.attempts + 1
            if attempts >= MAX_ATTEMPTS:
                await store.tip_not_sent(tip, retry_at=None)
                log.error(
                    "tip %s/%s to %s failed %d times: given up (%s)",
                    tip.magnet_id,
                    tip.tip_id,
                    tip.user_id,
                    attempts,
                    exc,
                )
                await self.schedule_next(tip.user_id, tip.magnet_id, now)
            else:
                await store.tip_not_sent(tip, retry_at=int(now) + backoff(attempts))
            return False
        await store.tip_sent(tip, message.message_id)
        log.info("tip %s/%s sent to %s", tip.magnet_id, tip.tip_id, tip.user_id)
        await self.schedule_next(tip.user_id, tip.magnet_id, svc.clock())
        return True
