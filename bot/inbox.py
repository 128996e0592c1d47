"""The team inbox: what a person writes reaches the team, the team's answers reach the person.

Every relay is a row of the store's `team_relays` outbox, written with the update that caused
it; `InboxSender` copies them (copyMessage: media and formatting kept) in order per person and
destination, at least once: a copy whose answer was lost in a crash is made again at the next
start (the only duplicates). Rules here are plain functions; the handlers stay thin.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
from dataclasses import dataclass

from telegram import Bot, Message, ReplyParameters
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError

from bot import names
from bot.pump import Pump
from bot.services import Services
from bot.store_inbox import IN, Relay

log = logging.getLogger(__name__)

# What copyMessage can copy from a private chat (service messages cannot be copied).
RELAYABLE = (
    "text", "photo", "video", "voice", "audio", "document", "video_note", "location",
    "contact", "sticker", "animation", "venue", "poll", "dice",
)  # fmt: skip
GROUP_PER_MINUTE = 20  # Telegram: about 20 messages a minute into one group
DELIVERED = "👍"  # the reaction on a team answer the person received
IN_FLIGHT = 8  # relays sent at once (each to a different person or destination)


def is_note(text: str | None) -> bool:
    """A team message starting with `#` is a note for the team: never sent to the person."""
    return bool(text) and text.lstrip().startswith("#")  # type: ignore[union-attr]


def relayable(message: Message) -> bool:
    """Whether the message has content copyMessage can copy (not a service message)."""
    return any(getattr(message, kind, None) for kind in RELAYABLE)


def may_answer(unsubscribed_at: int | None, last_in_at: int | None) -> bool:
    """The team may write to someone who unsubscribed only if they wrote to it since."""
    return unsubscribed_at is None or (last_in_at is not None and last_in_at >= unsubscribed_at)


def failure(exc: TelegramError) -> str | None:
    """Why a relay can never go (a text key), or None when trying again may work."""
    text = str(exc).lower()
    if isinstance(exc, Forbidden):
        return "inbox_not_sent_gone" if "deactivated" in text else "inbox_not_sent_blocked"
    if isinstance(exc, BadRequest):
        if "message to copy not found" in text or "message to reply not found" in text:
            return "inbox_not_sent_missing"
        return "inbox_not_sent_gone"  # chat not found and other refusals: retrying cannot help
    return None


def retry_delay(attempts: int) -> float:
    """Seconds before trying a relay again after a network failure: 2, 4, 8... up to 5 minutes."""
    return float(min(2 ** (attempts + 1), 300))


@dataclass
class GroupPace:
    """At most `limit` messages in any rolling `span` seconds into one group (Telegram counts
    rolling windows): a relay that does not fit waits in the outbox, it is never dropped."""

    limit: int = GROUP_PER_MINUTE
    span: float = 60.0

    def __post_init__(self) -> None:
        self.times: list[float] = []

    def wait(self, now: float) -> float:
        """0 if one more message fits at `now`, else the seconds until one does."""
        del self.times[: bisect.bisect_right(self.times, now - self.span)]
        if len(self.times) < self.limit:
            return 0.0
        return self.times[len(self.times) - self.limit] + self.span - now

    def take(self, now: float, count: int = 1) -> None:
        """Count `count` messages sent at `now`."""
        for _ in range(count):
            bisect.insort(self.times, now)


class InboxSender(Pump):
    """Empties the relay outbox: heads of each (person, destination) queue, a few at once."""

    name = "team inbox"

    def __init__(self, svc: Services, bot: Bot) -> None:
        super().__init__()
        self.svc, self.bot = svc, bot
        self._paces: dict[int, GroupPace] = {}
        self._paused: dict[int, float] = {}  # chat -> end of its retry_after

    async def pass_once(self) -> int:
        """Send every relay that may go now, in order per person and destination."""
        handled = 0
        while not self._stopped:
            due = await self.svc.store.team_due(IN_FLIGHT * 4)
            if not due:
                break
            for start in range(0, len(due), IN_FLIGHT):
                await asyncio.gather(*(self._one(r) for r in due[start : start + IN_FLIGHT]))
            handled += len(due)
        return handled

    async def _one(self, relay: Relay) -> None:
        """One relay: sent, put back for later (429, pacing, network) or failed for good."""
        store, now = self.svc.store, self.svc.clock()
        wait = self._paused.get(relay.to_chat, 0.0) - now
        wait = wait if wait > 0 else self._pace_wait(relay, now)
        if wait > 0:  # the chat's budget is spent: the relay keeps its place in the queue
            await store.team_retry(relay.id, now + wait, "waiting for the group's pace", False)
            return
        if relay.direction != IN and await store.get_lead(relay.person) is None:
            await self._give_up(relay, "inbox_not_sent_erased", "the person erased their data")
            return
        try:
            if relay.direction == IN:
                copy_id = await self._to_team(relay)
            else:
                copy_id = await self._to_person(relay)
        except RetryAfter as exc:
            retry = float(exc.retry_after if isinstance(exc.retry_after, int | float) else 1)
            self._paused[relay.to_chat] = now + retry
            await store.team_retry(relay.id, now + retry, f"429: retry after {retry:.0f} s", False)
            return
        except TelegramError as exc:
            await self._failed(relay, exc)
            return
        await store.team_sent(relay, copy_id)
        if relay.direction != IN:  # the team sees it arrived
            await self._react(relay)

    def _pace_wait(self, relay: Relay, now: float) -> float:
        """Seconds before this relay fits the group's pace (0 for private chats)."""
        if relay.to_chat >= 0:
            return 0.0
        pace = self._paces.setdefault(relay.to_chat, GroupPace())
        wait = pace.wait(now)
        if not wait:
            pace.take(now)  # booked now: the relays sent at once each hold their own slot
        return wait

    async def _to_team(self, relay: Relay) -> int:
        """A person's message into an owner's chat: a one-line header naming them, then the
        copy as a reply to it (replying to either answers the person)."""
        header_id = relay.header_id
        if header_id is None:
            header_id = await self._header(relay)
            await self.svc.store.team_header(relay.id, header_id)
        copied = await self.bot.copy_message(
            relay.to_chat,
            relay.from_chat,
            relay.message_id,
            reply_parameters=ReplyParameters(header_id, allow_sending_without_reply=True),
        )
        return copied.message_id

    async def _header(self, relay: Relay) -> int:
        """The header line before a relayed message; kept as a relay so replies and /forget
        find it."""
        svc = self.svc
        lead = await svc.store.get_lead(relay.person)
        first, last, user = (lead.first_name, lead.last_name, lead.username) if lead else (
            None, None, None
        )  # fmt: skip
        text = svc.texts.get(
            svc.owner_lang,
            "inbox_header",
            name=names.person(first, last, relay.person),
            handle=names.handle(user),
        )
        sent = await self.bot.send_message(relay.to_chat, text)
        await svc.store.add_relay(relay.to_chat, sent.message_id, relay.person)
        return sent.message_id

    async def _to_person(self, relay: Relay) -> int:
        """A team answer, copied as it is to the person."""
        copied = await self.bot.copy_message(relay.person, relay.from_chat, relay.message_id)
        return copied.message_id

    async def _react(self, relay: Relay) -> None:
        """A reaction on the team's message: it reached the person."""
        try:
            await self.bot.set_message_reaction(relay.from_chat, relay.message_id, DELIVERED)
        except TelegramError as exc:  # reactions may be off in that chat: the answer went anyway
            log.debug("no delivery reaction on %s: %s", relay.message_id, exc)

    async def _failed(self, relay: Relay, exc: TelegramError) -> None:
        """Retry network failures; record the others and tell the team why an answer failed."""
        key = failure(exc)
        if key is None:  # network trouble, a migrated group...: the relay waits, never lost
            delay = retry_delay(relay.attempts)
            await self.svc.store.team_retry(relay.id, self.svc.clock() + delay, str(exc)[:200])
            return
        if key == "inbox_not_sent_blocked" and relay.direction != IN:
            await self.svc.store.mark_blocked(relay.person)
        await self._give_up(relay, key, str(exc))

    async def _give_up(self, relay: Relay, key: str, why: str) -> None:
        """Record a relay that can never go; for a team answer, a short reply saying why."""
        await self.svc.store.team_failed(relay.id, why[:200])
        if relay.direction == IN:  # an owner who blocked the bot: the others still got it
            log.warning("relay %s to %s failed: %s", relay.id, relay.to_chat, why)
            return
        log.info("team answer %s to %s not delivered: %s", relay.id, relay.person, why)
        text = self.svc.texts.get(self.svc.owner_lang, key)
        under = ReplyParameters(relay.message_id, allow_sending_without_reply=True)
        try:
            await self.bot.send_message(relay.from_chat, text, reply_parameters=under)
        except TelegramError as err:
            log.warning("could not tell the team an answer failed: %s", err)
