"""The nurture dispatcher: sends due tips from the SQLite schedule, at most once each.

PTB's JobQueue only wakes it up; the `tips` table is the truth, so restarts lose nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection
from zoneinfo import ZoneInfo

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup

from bot.content.catalogue import Tip, localized
from bot.nurture.schedule import backoff, next_in_sequence, next_send_time
from bot.services import Services
from bot.store.tips import DueTip, NextTip
from bot.telegram.callback_data import PlanButton, StopButton
from bot.telegram.pacing import Pacer
from bot.telegram.sending import Outcome, Result, send

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5  # errors that certainly left nothing delivered, before a tip is given up
IN_FLIGHT = 8  # concurrent sends: enough to reach the rate with ~100-300 ms per call
BATCH = 500  # tips taken per tick


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
        self,
        user_id: int,
        magnet_id: str,
        after: float,
        hot: bool | None = None,
        scheduled: Collection[str] | None = None,
    ) -> NextTip:
        """The magnet's next tip for this person, due its delay after `after`.

        The sending hours are applied when it comes due, so the hours in force then decide.
        Someone ready to talk (`hot`, read from the store unless given) only gets tips marked
        `after_hot`; `scheduled`: the magnet's tips in the schedule, read unless given.
        """
        store, magnet = self.svc.store, self.svc.catalogue.get(magnet_id)
        if magnet is None:
            return None
        done = scheduled
        if done is None:
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
        """One due tip: postponed to the sending hours, skipped, or sent at most once."""
        store, now = self.svc.store, self.svc.clock()
        if await self._postponed(tip, now):
            return False
        content = self.svc.catalogue.tip(tip.magnet_id, tip.tip_id)
        then = await self.next_tip(tip.user_id, tip.magnet_id, now)
        if content is None:  # removed from the catalogue since it was scheduled: skip it
            if await store.tips.claim(tip):
                await store.tips.failed(tip, then)
            return False
        text, markup = self._message(tip, content)
        # Claimed only once it holds a slot, just before the request is written: a tip waiting
        # for the budget is still pending at a crash, and `unknown` means it left (unless the
        # crash came in the few milliseconds between the claim and the write: README).
        if not await self._pacer.slot() or not await store.tips.claim(tip):
            return False
        result = await send(
            self._pacer, lambda: self.bot.send_message(tip.user_id, text, reply_markup=markup)
        )
        await self._record(tip, result, int(now), then)
        return result.outcome is Outcome.SENT

    async def _postponed(self, tip: DueTip, now: float) -> bool:
        """Outside the person's sending hours: due again when they open."""
        zone = ZoneInfo(tip.timezone) if tip.timezone else self.svc.settings.zone
        opening = next_send_time(now, self.svc.settings.window, zone)
        if opening <= now:
            return False
        await self.svc.store.tips.postpone(tip, opening)  # night: wait for the morning
        return True

    def _message(self, tip: DueTip, content: Tip) -> tuple[str, InlineKeyboardMarkup]:
        """The tip's text in the person's language, its call to action above the stop button."""
        texts = self.svc.texts
        lang, default = texts.lang_for(tip.language), texts.default
        rows = []
        if content.cta:
            plan = PlanButton(tip.magnet_id, tip.tip_id).pack()
            label = localized(content.cta, lang, default)
            rows.append([InlineKeyboardButton(label, callback_data=plan)])
        stop = texts.get(lang, "btn_stop_tips")
        rows.append([InlineKeyboardButton(stop, callback_data=StopButton().pack())])
        return localized(content.text, lang, default), InlineKeyboardMarkup(rows)

    async def _record(self, tip: DueTip, result: Result, now: int, then: NextTip) -> None:
        """The claimed tip's row after its send: each outcome as the policy says."""
        tips, name = self.svc.store.tips, f"tip {tip.magnet_id}/{tip.tip_id} to {tip.user_id}"
        match result.outcome:
            case Outcome.SENT:
                assert result.message_id is not None  # a sent message has one
                await tips.sent(tip, result.message_id, then)
                log.info("%s sent", name)
            case Outcome.HELD:  # stopping, or a 429 meanwhile: not sent, pending again
                await tips.retry(tip, now)
            case Outcome.RETRY_AFTER:  # due again; the paused pacer holds it back
                await tips.retry(tip, now)
                log.warning("Telegram asked to slow down: tips paused for %.0f s", result.wait)
            case Outcome.BLOCKED | Outcome.GONE:
                await tips.failed(tip, None)
                await self.svc.store.leads.mark_blocked(tip.user_id)
                log.info("%s: %s, their tips are cancelled", name, result.outcome.value)
            case Outcome.UNKNOWN:
                log.warning("%s timed out: unknown, not resent", name)
                await tips.unknown(tip, then)
            case Outcome.RETRYABLE if tip.attempts + 1 < MAX_ATTEMPTS:
                await tips.retry(tip, now + backoff(tip.attempts + 1))
            case _:  # refused, or failed MAX_ATTEMPTS times: given up, the sequence goes on
                log.error("%s given up: %s", name, result.error)
                await tips.failed(tip, then)
