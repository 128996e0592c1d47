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
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from html import escape

from telegram import Bot, Message, ReplyParameters
from telegram.error import BadRequest, ChatMigrated, Forbidden, RetryAfter, TelegramError

from bot.content.texts import Texts
from bot.outbox.pump import Pump
from bot.owner.alerts import alert_in_private, card_buttons, lead_card, notify_owners
from bot.owner.kpis import figures, pct, rate
from bot.services import Services
from bot.store.team import ALERT, IN, OUT, Relay, TeamCounts, Waiting
from bot.telegram import names
from bot.telegram.pacing import bulk_send
from bot.telegram.sending import Outcome, classify, retry_after_seconds

log = logging.getLogger(__name__)

# What copyMessage can copy from a private chat (service messages cannot be copied).
RELAYABLE = (
    "text", "photo", "video", "voice", "audio", "document", "video_note", "location",
    "contact", "sticker", "animation", "venue", "poll", "dice",
)  # fmt: skip
GROUP_PER_MINUTE = 20  # Telegram: about 20 messages a minute into one group
DELIVERED = "👍"  # the reaction on a team answer the person received
IN_FLIGHT = 16  # relays sent at once (each to a different person or destination)
HEADER_SECONDS = 600  # a person's header in an owner's chat heads their next messages this long
# How long a claim to open a person's topic stands: longer than a createForumTopic lasts (PTB's
# 5 s to connect, write and read each) and than a deposed leader may still be sending
# (bot.ops.guard.FATAL_EXIT_SECONDS after a fatal fault; a vanished machine's process stops
# ~6 s + that deadline after it lost the database). A claim left by a crash expires.
TOPIC_CLAIM_SECONDS = 30.0
CLAIM_POLL_SECONDS = 1.0  # a relay waiting for another process's topic looks again this soon


class TopicClaimed(Exception):
    """Another process (the last leader) is opening the person's topic: wait for it."""


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


def topic_title(
    first: str | None, last: str | None, username: str | None, person: int, *, hot: bool
) -> str:
    """A topic's title: the person's name and @username, 🔥 once ready to talk."""
    title = names.person(first, last, person, 90, html=False) + names.handle(username, html=False)
    return ("🔥 " if hot else "") + title


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

    def wait(self, now: float, need: int = 1) -> float:
        """0 if `need` more messages fit at `now`, else the seconds until they do."""
        del self.times[: bisect.bisect_right(self.times, now - self.span)]
        need = min(need, self.limit)
        if len(self.times) + need <= self.limit:
            return 0.0
        return self.times[len(self.times) + need - 1 - self.limit] + self.span - now

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
        self._topic_locks: dict[int, asyncio.Lock] = {}  # one topic per person, never two
        self._headers: dict[tuple[int, int], tuple[int, float]] = {}  # (chat, person) -> header
        self._group_trouble: set[str] = set()  # why owners were told the group refuses relays
        self._queued = asyncio.Event()  # set by kick(): a running pass looks for new relays

    def kick(self) -> None:
        """A relay was queued: a running pass picks it up at once, else a pass starts."""
        self._queued.set()
        super().kick()

    async def pass_once(self) -> int:
        """Send every relay that may go now, in order per person and destination: up to
        IN_FLIGHT at once, each next one started as soon as a slot or a new relay comes."""
        handled = 0
        running: dict[tuple[int, int], asyncio.Task[None]] = {}
        try:
            while not self._stopped:
                self._queued.clear()
                due = await self.svc.store.team.due(IN_FLIGHT * 4)
                for relay in due:
                    key = (relay.person, relay.to_chat)  # one at a time per queue: order kept
                    if key not in running and len(running) < IN_FLIGHT:
                        running[key] = asyncio.create_task(self._one(relay))
                if not running:
                    break
                queued = asyncio.create_task(self._queued.wait())
                done, _ = await asyncio.wait(
                    [*running.values(), queued], return_when=asyncio.FIRST_COMPLETED
                )
                queued.cancel()
                for key, task in list(running.items()):
                    if task in done:
                        del running[key]
                        handled += 1
                        task.result()  # a store failure ends the pass: the timer tries again
        finally:  # never leave a copy running that the next pass would start again
            await asyncio.gather(*running.values(), return_exceptions=True)
        return handled

    async def _one(self, relay: Relay) -> None:
        """One relay: sent, put back for later (429, pacing, network) or failed for good."""
        store, now = self.svc.store, self.svc.clock()
        need = 1  # a copy or an alert; opening a topic first costs its creation and the card too
        if relay.to_chat < 0 and await store.team.topic(relay.person, relay.to_chat) is None:
            need = 3
            if await self._opened_elsewhere(relay):  # before booking the group's pace
                return
        wait = self._paused.get(relay.to_chat, 0.0) - now
        wait = wait if wait > 0 else self._pace_wait(relay.to_chat, now, need)
        if wait > 0:  # the chat's budget is spent: the relay keeps its place in the queue
            await store.team.retry(relay.id, now + wait, "waiting for the group's pace", False)
            return
        if relay.direction == OUT and await store.leads.get(relay.person) is None:
            await self._give_up(relay, "inbox_not_sent_erased", "the person erased their data")
            return
        try:
            if relay.direction == ALERT:
                with bulk_send():  # paced here, 429s handled here: not PTB's limiter too
                    copy_id = await self._alert_in_topic(relay)
            elif relay.direction == IN and relay.to_chat < 0:
                with bulk_send():
                    copy_id = await self._to_team(relay)
            elif relay.direction == IN:
                copy_id = await self._to_team(relay)
            else:
                copy_id = await self._to_person(relay)
        except TopicClaimed:  # claimed between the look above and the claim: rare
            await self._opened_elsewhere(relay, claimed=True)
            return
        except RetryAfter as exc:
            retry = retry_after_seconds(exc)  # this chat only: relays have no shared budget
            self._paused[relay.to_chat] = now + retry
            await store.team.retry(relay.id, now + retry, f"429: retry after {retry:.0f} s", False)
            return
        except TelegramError as exc:
            if relay.direction == ALERT:
                await self._alert_refused(relay, exc)
            else:
                await self._failed(relay, exc)
            return
        await store.team.sent(relay, copy_id, need)
        if relay.to_chat < 0:
            self._group_trouble.clear()  # the group takes relays again
        if relay.direction == OUT:  # the team sees it arrived
            await self._react(relay)

    async def _opened_elsewhere(self, relay: Relay, *, claimed: bool = False) -> bool:
        """Whether another process's fresh claim on the person's topic stands (a deposed leader
        whose createForumTopic is under way): the relay then waits for that topic."""
        store = self.svc.store
        if store.dialect == "sqlite":  # one process: its lock is enough
            return False
        if not claimed and not await store.team.topic_claimed(relay.person, TOPIC_CLAIM_SECONDS):
            return False
        why = "waiting for the topic another process is opening"
        await store.team.retry(relay.id, self.svc.clock() + CLAIM_POLL_SECONDS, why, False)
        return True

    async def _claim_topic(self, person: int, chat: int) -> int | None:
        """Claim the opening of the person's topic in the store (PostgreSQL: a deposed leader's
        createForumTopic may still be under way): the claim's time, None on SQLite (the only
        process); TopicClaimed if another claim stands or that topic was stored meanwhile."""
        if self.svc.store.dialect == "sqlite":
            return None
        claimed = await self.svc.store.team.claim_topic(person, chat, TOPIC_CLAIM_SECONDS)
        if claimed is None:
            raise TopicClaimed(person)  # looked at again shortly: its topic, or a stale claim
        return claimed

    def _pace_wait(self, chat: int, now: float, need: int = 1) -> float:
        """Seconds before `need` more messages fit the group's pace (0 for private chats);
        when they fit they are booked at once, so relays sent together each hold their own."""
        if chat >= 0:
            return 0.0
        pace = self._paces.setdefault(chat, GroupPace())
        wait = pace.wait(now, need)
        if not wait:
            pace.take(now, need)
        return wait

    async def _to_team(self, relay: Relay) -> int:
        """A person's message into their topic of the inbox group, or into an owner's chat:
        a one-line header naming them, then the copy as a reply to it (replying to either
        answers the person). Their next messages for HEADER_SECONDS reply to the same header
        (its quote names them): one round trip each, not two."""
        if relay.to_chat < 0:
            return await self._to_topic(relay)
        header_id = relay.header_id
        if header_id is None:
            header_id = await self._recent_header(relay)
        if header_id is None:
            header_id = await self._header(relay)
            self._headers[(relay.to_chat, relay.person)] = (header_id, self.svc.clock())
        if header_id != relay.header_id:
            await self.svc.store.team.header(relay.id, header_id)
        copied = await self.bot.copy_message(
            relay.to_chat,
            relay.from_chat,
            relay.message_id,
            reply_parameters=ReplyParameters(header_id, allow_sending_without_reply=True),
        )
        return copied.message_id

    async def _to_topic(self, relay: Relay) -> int:
        """A copy into the person's topic (the topic names them: no header)."""

        async def copy(thread: int) -> int:
            copied = await self.bot.copy_message(
                relay.to_chat, relay.from_chat, relay.message_id, message_thread_id=thread
            )
            return copied.message_id

        return await self._in_topic(relay.person, copy)

    async def _in_topic(self, person: int, send: Callable[[int], Awaitable[int]]) -> int:
        """`send` into the person's topic; a topic deleted by hand is opened again."""
        chat = self.svc.settings.inbox_chat_id
        for _ in range(2):
            thread = await self.topic(person)
            try:
                return await send(thread)
            except BadRequest as exc:
                if "thread not found" not in str(exc).lower():
                    raise
                log.info("topic of %s was deleted: opening a new one", person)
                assert chat is not None
                await self.svc.store.team.set_topic(person, chat, None)
        raise BadRequest("message thread not found")

    async def topic(self, person: int) -> int:
        """The person's topic in the inbox group, opened with their lead card if missing.

        Only one process opens topics: on SQLite the only one; on PostgreSQL the elected sender
        (alerts are relays there), under this process's lock and a claim in the store (the
        last leader's call may still be under way at a leader change)."""
        svc, chat = self.svc, self.svc.settings.inbox_chat_id
        assert chat is not None
        async with self._topic_locks.setdefault(person, asyncio.Lock()):
            thread = await svc.store.team.topic(person, chat)
            if thread is not None:
                return thread
            lead = await svc.store.leads.get(person)
            title = topic_title(
                lead.first_name if lead else None,
                lead.last_name if lead else None,
                lead.username if lead else None,
                person,
                hot=bool(lead and lead.hot_at),
            )
            claimed = await self._claim_topic(person, chat)
            try:
                created = await self.bot.create_forum_topic(chat, title)
            except TelegramError:  # not opened (or a timeout's unknown): the next try claims
                if claimed is not None:
                    await svc.store.team.release_topic(person, claimed)
                raise
            thread = created.message_thread_id
            await svc.store.team.set_topic(person, chat, thread, title)
            headline = svc.texts.get(svc.owner_lang, "inbox_topic_opened")
            card = await lead_card(svc, person, headline)
            sent = await self.bot.send_message(
                chat, card, message_thread_id=thread, reply_markup=card_buttons(svc, person)
            )
            await svc.store.ready.add_relay(chat, sent.message_id, person)
            log.info("topic %s opened for %s", thread, person)
            return thread

    async def alert(self, person: int, card: str, update_id: int | None = None) -> bool:
        """A hot-lead alert into the person's topic (🔥 in its title); False if the group
        cannot take it (the caller alerts the owners in private instead).

        On PostgreSQL (several processes may share the database) it is queued as a relay of
        this update, behind the person's messages, for the elected sender: the only process
        that opens topics and writes into the group, so one topic per person and the group's
        pace for the bot as a whole; that sender alerts the owners in private if the group
        refuses it. On SQLite it is sent from the handler."""
        chat = self.svc.settings.inbox_chat_id
        assert chat is not None
        if self.svc.store.dialect != "sqlite":
            if await self.svc.store.team.alert(person, chat, card, update_id):
                self.kick()  # the sender (or the leader, woken) sends it now, ahead of copies
            return True
        try:
            thread = await self.topic(person)
            await self._hot_title(person, thread)
            self._pace_wait(chat, self.svc.clock())  # counted; an alert never waits
            # The update's last call into the group: a stop that gives up a wait for the
            # group's budget (bot.telegram.replies) leaves nothing sent twice at the replay.
            sent = await self.bot.send_message(
                chat, card, message_thread_id=thread, reply_markup=card_buttons(self.svc, person)
            )
        except TelegramError as exc:
            log.warning("alert about %s not sent to the inbox group: %s", person, exc)
            return False
        await self.svc.store.ready.add_relay(chat, sent.message_id, person)
        return True

    async def _hot_title(self, person: int, thread: int) -> None:
        """🔥 in the title of the person's topic, unless it has it already."""
        chat, lead = self.svc.settings.inbox_chat_id, await self.svc.store.leads.get(person)
        if lead is None or chat is None:
            return
        title = topic_title(lead.first_name, lead.last_name, lead.username, person, hot=True)
        if await self.svc.store.team.topic_title(person) == title:
            return
        try:
            await self.bot.edit_forum_topic(chat, thread, name=title)
        except TelegramError as exc:  # already 🔥 (a topic opened before its title was kept)
            log.debug("topic title unchanged: %s", exc)
            return
        await self.svc.store.team.set_topic_title(person, title)

    async def _alert_in_topic(self, relay: Relay) -> int:
        """A queued alert (PostgreSQL) into the person's topic, 🔥 in its title."""
        svc, person = self.svc, relay.person

        async def send(thread: int) -> int:
            sent = await self.bot.send_message(
                relay.to_chat, relay.card or "", message_thread_id=thread,
                reply_markup=card_buttons(svc, person),
            )  # fmt: skip
            await svc.store.ready.add_relay(relay.to_chat, sent.message_id, person)
            await self._hot_title(person, thread)  # once in the topic (not a deleted one)
            return sent.message_id

        return await self._in_topic(person, send)

    async def _alert_refused(self, relay: Relay, exc: TelegramError) -> None:
        """A queued alert the group did not take: refused, the owners get it in private at
        once (a hot lead does not wait for the group); a network failure tries the group again,
        like any relay (private chats are behind the same network)."""
        log.warning("alert about %s not sent to the inbox group: %s", relay.person, exc)
        team, delay = self.svc.store.team, retry_delay(relay.attempts)
        # A timeout may have delivered it: the group again, never also in private at once
        # (a second alert in the topic is better than an alert lost).
        if classify(exc).outcome in (Outcome.RETRYABLE, Outcome.UNKNOWN):
            await team.retry(relay.id, self.svc.clock() + delay, str(exc)[:200])
            return
        if await alert_in_private(self.bot, self.svc, relay.person, relay.card or ""):
            await team.failed(relay.id, f"owners alerted in private: {exc}"[:200])
            return
        why = f"no owner reached in private: {exc}"  # the group, then the owners, again later
        await team.retry(relay.id, self.svc.clock() + delay, why[:200])

    async def seed_pace(self) -> None:
        """The group's last minute as the store knows it (what another process sent), added to
        this process's own bookings: a newly elected sender keeps to the group's pace from its
        first relay. Its sends still under way from a term it led before stay counted; those
        it made and stored count twice (a longer wait, never a 429)."""
        chat = self.svc.settings.inbox_chat_id
        if chat is None:
            return
        pace = self._paces.setdefault(chat, GroupPace())
        for at, sends in await self.svc.store.team.recent_sends(chat, self.svc.clock() - pace.span):
            pace.take(at + 1.0, sends)  # whole seconds: counted at the end of theirs

    async def _recent_header(self, relay: Relay) -> int | None:
        """The person's header sent into this chat less than HEADER_SECONDS ago, if it is
        still theirs (/forget removes it)."""
        known = self._headers.get((relay.to_chat, relay.person))
        if known is None or self.svc.clock() - known[1] >= HEADER_SECONDS:
            return None
        if await self.svc.store.team.person_of(relay.to_chat, known[0]) != relay.person:
            del self._headers[(relay.to_chat, relay.person)]
            return None
        return known[0]

    async def _header(self, relay: Relay) -> int:
        """The header line before a relayed message; kept as a relay so replies and /forget
        find it."""
        svc = self.svc
        lead = await svc.store.leads.get(relay.person)
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
        await svc.store.ready.add_relay(relay.to_chat, sent.message_id, relay.person)
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
        if relay.direction == IN and relay.to_chat < 0 and key != "inbox_not_sent_missing":
            await self._group_refused(exc)  # removed, migrated, no rights: relays wait
            key = None
        if key is None:  # network trouble, a migrated group...: the relay waits, never lost
            delay = retry_delay(relay.attempts)
            await self.svc.store.team.retry(relay.id, self.svc.clock() + delay, str(exc)[:200])
            return
        if key == "inbox_not_sent_blocked" and relay.direction != IN:
            await self.svc.store.leads.mark_blocked(relay.person)
        await self._give_up(relay, key, str(exc))

    async def check_group(self) -> None:
        """At start: relays still waiting for another group (INBOX_CHAT_ID changed, e.g. to a
        migrated group's new id) go to this one; the group can be reached and has topics, else
        owners hear why (the relays wait for it)."""
        chat = self.svc.settings.inbox_chat_id
        if chat is None:
            return
        moved = await self.svc.store.team.retarget(chat)
        if moved:
            log.info("%d relay(s) waiting for a former inbox group now go to %s", moved, chat)
        try:
            info = await self.bot.get_chat(chat)
        except TelegramError as exc:
            await self._group_refused(exc)
            return
        if not info.is_forum:
            await self._group_refused(TelegramError("topics are not enabled in the group"))

    async def _group_refused(self, exc: TelegramError) -> None:
        """The inbox group refuses relays: owners are told in private, once for each reason
        until it works (a group without topics, then migrated when they were turned on: the
        new id is news)."""
        if str(exc) in self._group_trouble:
            return
        self._group_trouble.add(str(exc))
        log.warning("the inbox group refuses relays: %s", exc)
        reason = escape(str(exc)[:200], quote=False)
        if isinstance(exc, ChatMigrated):
            reason += f" (INBOX_CHAT_ID={exc.new_chat_id})"
        text = self.svc.texts.get(self.svc.owner_lang, "inbox_group_refuses", reason=reason)
        await notify_owners(self.bot, self.svc, text)

    async def _give_up(self, relay: Relay, key: str, why: str) -> None:
        """Record a relay that can never go; for a team answer, a short reply saying why."""
        await self.svc.store.team.failed(relay.id, why[:200])
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


def duration(seconds: float, texts: Texts, lang: str) -> str:
    """A wait as owners read it: `12 min`, `3 h 5 min`, `2 d 4 h`."""
    minutes = max(0, int(seconds // 60))
    hours, days = minutes // 60, minutes // 1440
    if days:
        return texts.get(lang, "duration_d", d=str(days), h=str(hours % 24))
    if hours:
        return texts.get(lang, "duration_h", h=str(hours), m=str(minutes % 60))
    return texts.get(lang, "duration_m", m=str(minutes))


def topic_link(chat: int, thread: int) -> str:
    """The t.me link that opens a topic of a private supergroup (-100<id>)."""
    return f"https://t.me/c/{str(chat).removeprefix('-100')}/{thread}"


def inbox_lines(svc: Services, waiting: list[Waiting], now: float) -> list[str]:
    """/inbox: the title, then one line per waiting conversation, oldest first (numbered like
    the Done buttons)."""
    texts, lang = svc.texts, svc.owner_lang
    if not waiting:
        return [texts.get(lang, "inbox_empty")]
    lines = [texts.get(lang, "inbox_title", count=str(len(waiting)))]
    group = svc.settings.inbox_chat_id
    for n, item in enumerate(waiting, 1):
        link = ""
        if group is not None and item.topic is not None:
            link = texts.get(lang, "inbox_topic_link", url=topic_link(group, item.topic))
        lines.append(
            texts.get(
                lang,
                "inbox_line",
                n=str(n),
                name=names.person(item.first_name, item.last_name, item.person),
                handle=names.handle(item.username),
                waited=duration(now - item.waiting_since, texts, lang),
                messages=texts.count(lang, "inbox_messages", item.messages),
                link=link,
            )
        )
    if group is None:
        lines.append(texts.get(lang, "inbox_private_hint"))
    return lines


def team_kpi_lines(
    label: Callable[[str], str],
    line: Callable[[str, str], str],
    columns: list[TeamCounts],
    texts: Texts,
    lang: str,
    sources: Sequence[tuple[str | None, int, int]] = (),
) -> list[str]:
    """/stats: conversations, the answered share and the median time to a first answer, one
    figure per line for each period shown (the period's value in bold), then the period's
    conversations and answered share per first source."""
    shares = [pct(rate(c.answered, c.conversations)) for c in columns]
    medians = [
        "-" if c.median_answer is None else duration(c.median_answer, texts, lang) for c in columns
    ]
    return [
        line(label("kpi_conversations"), figures([str(c.conversations) for c in columns])),
        line(label("kpi_answered"), figures(shares)),
        line(label("kpi_first_answer"), figures(medians)),
        *([f"{label('kpi_conversations')}, {label('kpi_by_source')}"] if sources else []),
        *(
            line(
                f"• {escape(source) if source else label('kpi_no_source')}",
                texts.count(
                    lang,
                    "kpi_source_conversations",
                    count,
                    answered=pct(rate(answered, count)),
                ),
            )
            for source, count, answered in sources
        ),
    ]
