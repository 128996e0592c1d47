"""The nurture dispatcher: sends due tips from the SQLite schedule, at most once each.

PTB's JobQueue only wakes it up; the `tips` table is the truth, so restarts lose nothing.
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from datetime import timedelta
from zoneinfo import ZoneInfo

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut

from bot.content.catalogue import localized
from bot.nurture.schedule import backoff, next_in_sequence, next_send_time
from bot.services import Services
from bot.store.tips import DueTip, NextTip
from bot.telegram.pacing import Pacer, bulk_send

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5  # errors that certainly left nothing delivered, before a tip is given up
IN_FLIGHT = 8  # concurrent sends: enough to reach the rate with ~100-300 ms per call
BATCH = 500  # tips taken per tick


def retry_after_seconds(error: RetryAfter) -> float:
    """`retry_after` in seconds, whichever type this PTB version returns."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PTB 22 warns that the type will become timedelta
        value = error.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def maybe_delivered(error: NetworkError) -> bool:
    """Whether Telegram may have acted on a call that failed this way.

    A 5xx answer, a refused connection or a pool timeout happen before Telegram acts; a call that
    timed out waiting for the answer may have been delivered, so at most once means not resending.
    """
    return isinstance(error, TimedOut) and "pool timeout" not in str(error).lower()


class Nurture:
    """Schedules each lead's next tip and sends the ones that are due."""

    def __init__(self, svc: Services, bot: Bot, bulk: Pacer) -> None:
        self.svc, self.bot = svc, bot
        self._pacer = bulk  # shared with broadcasts: together under Telegram's bulk limit
        self._tick_lock = asyncio.Lock()

    def halt(self) -> None:
        """Shutdown begins: tips waiting for a slot stay pending; sends under way go on."""
        self._pacer.close()

    async def stop(self) -> None:
        """Graceful shutdown: the running tick finishes the sends in flight, claims no more."""
        self.halt()
        async with self._tick_lock:
            pass

    async def next_tip(
        self, user_id: int, magnet_id: str, after: float, hot: bool | None = None
    ) -> NextTip:
        """The magnet's next tip for this person, due its delay after `after`.

        The sending hours are applied when it comes due, so the hours in force then decide.
        Someone ready to talk (`hot`, read from the store unless given) only gets tips marked
        `after_hot`.
        """
        store, magnet = self.svc.store, self.svc.catalogue.get(magnet_id)
        if magnet is None:
            return None
        done = await store.tips.scheduled_ids(user_id, magnet_id)
        if hot is None:
            lead = await store.leads.get(user_id)
            hot = lead is not None and lead.hot_at is not None
        tip = next_in_sequence(magnet.tips, done, hot)
        return None if tip is None else (tip.id, int(after + tip.delay_seconds))

    async def end_sequences(self, user_id: int) -> int:
        """Ready to talk: the person's tips not sent yet end, but for those marked `after_hot`,
        which go on in their place. Returns how many tips were dropped."""
        svc, now = self.svc, self.svc.clock()
        ended = 0
        for magnet_id, tip_id, state, due_at in await svc.store.tips.live(user_id):
            tip = svc.catalogue.tip(magnet_id, tip_id)
            # A kept tip takes a dropped one's place: due its delay after that one's time.
            base = max(due_at, now)
            if state != "sending" and not (tip and tip.after_hot):
                then = await self.next_tip(user_id, magnet_id, base, hot=True)
                ended += await svc.store.tips.end(user_id, magnet_id, tip_id, then)
                continue
            # In flight or kept: its sender may have chosen the next tip before the person was
            # ready to talk. That one is ended before it is scheduled; after a tip in flight the
            # next kept one follows now (a kept tip, once sent, chooses its own follower).
            ahead = await self.next_tip(user_id, magnet_id, now, hot=False)
            follower = svc.catalogue.tip(magnet_id, ahead[0]) if ahead else None
            if ahead and not (follower and follower.after_hot):
                then = None
                if state == "sending":
                    then = await self.next_tip(user_id, magnet_id, now, hot=True)
                ended += await svc.store.tips.end_ahead(user_id, magnet_id, ahead[0], then)
        if ended:
            log.info("%s is ready to talk: %d pending tip(s) ended", user_id, ended)
        return ended

    async def recover(self) -> int:
        """At start-up: tips in flight when the process died become `unknown`; sequences go on.

        Tips waiting for the sending hours are due at their own time again, so the hours and
        time zone configured now decide when they go. People ready to talk keep only the tips
        the catalogue now marks `after_hot` (it may have changed, or they became hot before
        this rule existed).
        """
        await self.svc.store.tips.unpostpone()
        lost = await self.svc.store.tips.in_flight()
        for tip in lost:
            log.warning(
                "tip %s/%s to %s was in flight at a crash: unknown",
                tip.magnet_id,
                tip.tip_id,
                tip.user_id,
            )
            then = await self.next_tip(tip.user_id, tip.magnet_id, self.svc.clock())
            await self.svc.store.tips.unknown(tip, then)
        for user_id in await self.svc.store.tips.hot_with_tips_left():
            await self.end_sequences(user_id)
        return len(lost)

    async def tick(self) -> int:
        """Send every tip due now (within sending hours); returns how many were sent."""
        async with self._tick_lock:  # a slow tick and the next one must not overlap
            now = self.svc.clock()
            if self._pacer.closed:
                return 0
            due = await self.svc.store.tips.due(int(now), BATCH)
            if not due:
                return 0
            gate = asyncio.Semaphore(IN_FLIGHT)

            async def one(tip: DueTip) -> bool:
                async with gate:
                    return await self._send(tip)

            sent = sum(await asyncio.gather(*(one(t) for t in due)))
            log.info("nurture tick: %d tip(s) sent of %d due", sent, len(due))
            return sent

    async def _send(self, tip: DueTip) -> bool:
        svc, store = self.svc, self.svc.store
        now = svc.clock()
        zone = ZoneInfo(tip.timezone) if tip.timezone else svc.settings.zone
        opening = next_send_time(now, svc.settings.window, zone)
        if opening > now:  # night: wait for the morning
            await store.tips.postpone(tip, opening)
            return False
        content = svc.catalogue.tip(tip.magnet_id, tip.tip_id)
        then = await self.next_tip(tip.user_id, tip.magnet_id, now)
        if content is None:  # removed from the catalogue since it was scheduled: skip it
            if await store.tips.claim(tip):
                await store.tips.failed(tip, then)
            return False
        lang, default = svc.texts.lang_for(tip.language), svc.texts.default
        rows = []
        if content.cta:
            label = localized(content.cta, lang, default)
            callback = f"pln:{tip.magnet_id}:{tip.tip_id}"
            rows.append([InlineKeyboardButton(label, callback_data=callback)])
        stop = svc.texts.get(lang, "btn_stop_tips")
        rows.append([InlineKeyboardButton(stop, callback_data="stp")])
        # Claimed only once it holds a slot, just before the request is written: a tip waiting
        # for the budget is still pending at a crash, and `unknown` means it really left.
        if not await self._pacer.slot() or not await store.tips.claim(tip):
            return False
        if not await self._pacer.wire():  # stopping, or a 429 meanwhile: not sent, pending again
            await store.tips.retry(tip, int(now))
            return False
        try:
            with bulk_send():  # never retried by PTB outside the budget: handled here
                message = await self.bot.send_message(
                    tip.user_id,
                    localized(content.text, lang, default),
                    reply_markup=InlineKeyboardMarkup(rows),
                )
        except RetryAfter as exc:
            wait = retry_after_seconds(exc)
            self._pacer.pause(wait)  # broadcasts wait too: one budget, as Telegram counts it
            await store.tips.retry(tip, int(now))  # due again; the paused pacer holds it back
            log.warning("Telegram asked to slow down: tips paused for %.0f s", wait)
            return False
        except Forbidden:
            await store.tips.failed(tip, None)
            await store.leads.mark_blocked(tip.user_id)
            log.info("%s blocked the bot: their tips are cancelled", tip.user_id)
            return False
        except BadRequest as exc:
            if "chat not found" in str(exc).lower():
                await store.tips.failed(tip, None)
                await store.leads.mark_blocked(tip.user_id)
            else:
                log.error("tip %s/%s refused by Telegram: %s", tip.magnet_id, tip.tip_id, exc)
                await store.tips.failed(tip, then)
            return False
        except NetworkError as exc:  # 5xx, timeouts, connection resets
            if maybe_delivered(exc):
                log.warning(
                    "tip %s/%s to %s timed out: unknown, not resent",
                    tip.magnet_id,
                    tip.tip_id,
                    tip.user_id,
                )
                await store.tips.unknown(tip, then)
            elif tip.attempts + 1 >= MAX_ATTEMPTS:
                log.error(
                    "tip %s/%s to %s failed %d times: given up (%s)",
                    tip.magnet_id,
                    tip.tip_id,
                    tip.user_id,
                    MAX_ATTEMPTS,
                    exc,
                )
                await store.tips.failed(tip, then)
            else:
                await store.tips.retry(tip, int(now) + backoff(tip.attempts + 1))
            return False
        await store.tips.sent(tip, message.message_id, then)
        log.info("tip %s/%s sent to %s", tip.magnet_id, tip.tip_id, tip.user_id)
        return True
