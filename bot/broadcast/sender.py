"""Broadcasts in the background: durable, resumable, at most once per person, at a safe rate."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import TelegramError

from bot.broadcast.draft import keyboard as draft_keyboard
from bot.broadcast.draft import version_for
from bot.broadcast.report import report_details
from bot.nurture.schedule import backoff
from bot.services import Services
from bot.store.broadcasts import Broadcast
from bot.telegram.callback_data import BroadcastButton
from bot.telegram.pacing import Pacer, in_flight_for
from bot.telegram.sending import HasMessageId, Outcome, send

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
PROGRESS_EVERY = 2.0  # seconds between edits of the owner's progress message


# A recipient's row after each outcome; the others are put back (see recipient_state).
STATES = {
    Outcome.SENT: "sent",
    Outcome.BLOCKED: "blocked",
    Outcome.GONE: "gone",
    Outcome.UNKNOWN: "unknown",  # it may have arrived: at most once means not resending
    Outcome.FAILED: "failed",
}


def recipient_state(outcome: Outcome, attempt: int, now: int) -> tuple[str, int | None]:
    """The recipient's state after a send, and when it is due again if it goes back to pending."""
    if outcome in (Outcome.HELD, Outcome.RETRY_AFTER):
        return "pending", now  # due again at once: a paused pacer holds it (and everyone)
    if outcome is Outcome.RETRYABLE:
        if attempt >= MAX_ATTEMPTS:
            return "failed", None
        return "pending", now + backoff(attempt, base=5, cap=300)
    return STATES[outcome], None


@dataclass
class _Run:
    """One broadcast being sent: its budget, the sends in flight and where the list is at."""

    broadcast: Broadcast
    paid: bool
    pacer: Pacer
    running: dict[int, asyncio.Task[None]] = field(default_factory=dict)  # recipient -> send
    cursor: int | None = None  # the last recipient started; the next fetch goes on from it
    last_edit: float = 0.0

    def __post_init__(self) -> None:
        self.room = in_flight_for(self.pacer.rate)
        self.gate = asyncio.Semaphore(self.room)


class Broadcaster:
    """Runs each sending broadcast as a task; the recipients table is the truth."""

    def __init__(self, svc: Services, bot: Bot, bulk: Pacer) -> None:
        self.svc, self.bot, self.bulk = svc, bot, bulk
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._cancelled: set[int] = set()
        self._shown: dict[int, str] = {}  # last progress text, so an edit always changes it
        self._stopping = False
        self._paid: Pacer | None = None  # paid broadcasts' own budget, shared by all of them
        # Shared mode, in a process that is not the elected sender: launching wakes the leader.
        self.standby: Callable[[], None] | None = None

    def launch(self, broadcast_id: int) -> None:
        """Start sending a broadcast in the background (once)."""
        if self.standby is not None:
            self.standby()
            return
        if broadcast_id not in self._tasks or self._tasks[broadcast_id].done():
            self._tasks[broadcast_id] = asyncio.create_task(
                self._run(broadcast_id), name=f"broadcast-{broadcast_id}"
            )

    async def resume(self) -> int:
        """At start-up: recipients in flight at a crash become `unknown`; sending goes on."""
        running = await self.svc.store.broadcasts.in_state("sending")
        for broadcast in running:
            lost = await self.svc.store.broadcasts.recover_recipients(broadcast.id)
            log.warning(
                "resuming broadcast %s (%d in flight at the crash: unknown)", broadcast.id, lost
            )
            self.launch(broadcast.id)
        return len(running)

    def cancel(self, broadcast_id: int) -> None:
        """Stop sending now: recipients not yet claimed are left unsent."""
        self._cancelled.add(broadcast_id)

    async def wait(self, broadcast_id: int) -> None:
        """Until a broadcast's task ends (tests and shutdown)."""
        task = self._tasks.get(broadcast_id)
        if task:
            await task

    def halt(self) -> None:
        """Shutdown begins: nothing more is claimed; sends already under way go on."""
        self._stopping = True
        self.bulk.close()
        if self._paid is not None:
            self._paid.close()

    async def stop(self) -> None:
        """Graceful shutdown: let in-flight messages finish, leave the rest pending."""
        self.halt()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)

    async def _run(self, broadcast_id: int) -> None:
        try:
            await self._send_all(broadcast_id)
        except Exception:  # a bug must not kill the bot; the broadcast resumes at the next start
            log.exception("broadcast %s stopped by an error", broadcast_id)

    def _pacer(self, paid: bool) -> Pacer:
        """The shared bulk budget, or the paid broadcasts' own one."""
        if not paid:
            return self.bulk
        if self._paid is None:
            self._paid = Pacer(self.svc.settings.paid_broadcast_rate)
            if self._stopping:
                self._paid.close()
        return self._paid

    async def _send_all(self, broadcast_id: int) -> None:
        broadcast = await self.svc.store.broadcasts.get(broadcast_id)
        if broadcast is None:
            return
        paid = broadcast.paid and self.svc.settings.paid_broadcast_rate > 0
        run = _Run(broadcast, paid, self._pacer(paid))
        # A pipeline, not rounds: a new send starts as soon as one ends, so the calls in flight
        # stay at what the rate needs even when Telegram takes 100-300 ms to answer.
        while not self._halted(broadcast_id) and await self._step(run):
            pass
        if run.running:
            await asyncio.gather(*run.running.values(), return_exceptions=True)
        if self._stopping:
            log.info("broadcast %s paused for shutdown; it resumes at the next start", broadcast_id)
            return
        current = await self.svc.store.broadcasts.get(broadcast_id)
        if current and current.state == "sending":
            await self.svc.store.broadcasts.finish(broadcast_id, "done")
        await self._report(broadcast)

    async def _step(self, run: _Run) -> bool:
        """Start the next batch of sends, or wait for some; False once cancelled or all done."""
        store, broadcast_id = self.svc.store, run.broadcast.id
        current = await store.broadcasts.get(broadcast_id)
        if current is None or current.state != "sending":
            return False  # cancelled
        # Retries that came due go first, so they follow their backoff, not the list's end.
        now, room = int(self.svc.clock()), run.room
        batch = await store.broadcasts.due_retries(broadcast_id, now, room)
        batch += await store.broadcasts.next_recipients(broadcast_id, now, room, after=run.cursor)
        batch = list({u: (u, lang) for u, lang in batch if u not in run.running}.values())
        if batch:
            await self._start(run, batch)
            if time.monotonic() - run.last_edit > PROGRESS_EVERY:
                run.last_edit = time.monotonic()
                await self._progress(run.broadcast)
            return True
        if run.cursor is not None:  # end of the list: start over for anything left behind
            run.cursor = None
            return True
        if run.running:  # wait for a send to end: it may put someone back for a retry
            await asyncio.wait(list(run.running.values()), return_when=asyncio.FIRST_COMPLETED)
            return True
        if await store.broadcasts.next_retry_at(broadcast_id) is None:
            return False  # everybody is done
        await asyncio.sleep(0.05)  # recipients waiting for a retry
        return True

    async def _start(self, run: _Run, batch: list[tuple[int, str]]) -> None:
        """One send task per recipient, as room in flight frees up."""
        for user, lang in batch:
            try:
                await run.gate.acquire()
            except asyncio.CancelledError:
                for task in run.running.values():  # a hard stop: nothing more leaves
                    task.cancel()
                raise
            run.running[user] = asyncio.create_task(self._one(run, user, lang))
            run.cursor = max(run.cursor or user, user)

    async def _one(self, run: _Run, user_id: int, language: str) -> None:
        """One recipient's send, holding its room in flight until it ends."""
        try:
            # Claimed only once it holds a slot: one waiting here is still pending.
            if await run.pacer.slot() and not self._halted(run.broadcast.id):
                await self._send(run.broadcast, user_id, language, run.paid, run.pacer)
        finally:
            run.gate.release()
            run.running.pop(user_id, None)

    def _halted(self, broadcast_id: int) -> bool:
        """Shutting down, or this broadcast cancelled: nothing more is claimed."""
        return self._stopping or broadcast_id in self._cancelled

    async def _send(
        self, broadcast: Broadcast, user_id: int, language: str, paid: bool, pacer: Pacer
    ) -> None:
        """One recipient, at most once: claimed, written when the pacer allows, recorded."""
        store, svc = self.svc.store, self.svc
        lang = svc.texts.lang_for(language)
        stop = svc.texts.get(lang, "btn_stop_tips")
        keyboard = draft_keyboard(broadcast.links, stop, broadcast.id)  # links above the stop
        version = version_for(broadcast.versions, lang, svc.texts.default)
        allow_paid = paid or None  # the paid broadcast rate: Telegram charges per message

        def call() -> Awaitable[HasMessageId]:
            if version is None:  # composed before broadcasts were copies: its stored text
                return self.bot.send_message(
                    user_id, broadcast.text, reply_markup=keyboard, allow_paid_broadcast=allow_paid
                )
            # The owner's message as it is: formatting and file kept, nothing re-sent.
            return self.bot.copy_message(
                user_id,
                version.from_chat,
                version.message_id,
                reply_markup=keyboard,
                allow_paid_broadcast=allow_paid,
            )

        # The claim is committed just before the request is written: at a crash, `unknown`
        # means this request left and no answer came (or the crash came in the few
        # milliseconds in between: README, "At most once").
        attempt = await store.broadcasts.claim_recipient(broadcast.id, user_id)
        if not attempt:
            return
        now = int(svc.clock())
        result = await send(pacer, call)
        state, retry_at = recipient_state(result.outcome, attempt, now)
        await store.broadcasts.recipient_done(broadcast.id, user_id, state, retry_at=retry_at)
        if result.outcome in (Outcome.BLOCKED, Outcome.GONE):
            await store.leads.mark_blocked(user_id)
        elif result.outcome is Outcome.FAILED:
            log.error("broadcast %s refused for %s: %s", broadcast.id, user_id, result.error)

    def _figures(self, counts: dict[str, int]) -> dict[str, str]:
        remaining = counts.get("pending", 0) + counts.get("sending", 0)
        names = ("sent", "blocked", "gone", "failed", "unknown")
        figures = {name: str(counts.get(name, 0)) for name in names}
        return {**figures, "remaining": str(remaining), "clicks": str(counts.get("stop_clicks", 0))}

    async def _progress(self, broadcast: Broadcast, final: bool = False) -> None:
        if broadcast.status_message_id is None:
            broadcast = await self.svc.store.broadcasts.get(broadcast.id) or broadcast
        if broadcast.status_message_id is None:
            return
        counts = await self.svc.store.broadcasts.progress(broadcast.id)
        text = self.svc.texts.get(
            self.svc.owner_lang, "bc_progress", id=str(broadcast.id), **self._figures(counts)
        )
        if self._shown.get(broadcast.id) == text:
            return
        self._shown[broadcast.id] = text
        stop = self.svc.texts.get(self.svc.owner_lang, "btn_bc_stop", id=str(broadcast.id))
        keyboard = (
            None
            if final
            else InlineKeyboardMarkup(  # the cancel button stays meanwhile
                [
                    [
                        InlineKeyboardButton(
                            stop, callback_data=BroadcastButton("x", broadcast.id).pack()
                        )
                    ]
                ]
            )
        )
        try:
            await self.bot.edit_message_text(
                text,
                chat_id=broadcast.owner_chat,
                message_id=broadcast.status_message_id,
                reply_markup=keyboard,
            )
        except TelegramError as exc:  # "not modified", a deleted message: progress is optional
            log.debug("broadcast progress not shown: %s", exc)

    async def _report(self, broadcast: Broadcast) -> None:
        current = await self.svc.store.broadcasts.get(broadcast.id)
        counts = await self.svc.store.broadcasts.progress(broadcast.id)
        key = "bc_cancelled" if current and current.state == "cancelled" else "bc_done"
        text = self.svc.texts.get(
            self.svc.owner_lang, key, id=str(broadcast.id), **self._figures(counts)
        )
        text += await report_details(self.svc, current or broadcast)  # per language, links
        log.info("broadcast %s ended: %s", broadcast.id, counts)
        self._shown.pop(broadcast.id, None)  # the last edit removes the cancel button
        await self._progress(broadcast, final=True)
        unknown = counts.get("unknown", 0)
        label = self.svc.texts.get(self.svc.owner_lang, "btn_bc_unknown", count=str(unknown))
        # Maybe delivered: never resent by itself, only if the owner decides to (with a confirm).
        resend = InlineKeyboardMarkup(
            [[InlineKeyboardButton(label, callback_data=BroadcastButton("u", broadcast.id).pack())]]
        )
        try:
            await self.bot.send_message(
                broadcast.owner_chat, text, reply_markup=resend if unknown else None
            )
        except TelegramError as exc:
            log.warning("could not report broadcast %s to its owner: %s", broadcast.id, exc)
