"""Store methods for the team inbox: the relay outbox, conversations, /inbox and its KPIs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import aiosqlite

from bot.owner.periods import Period
from bot.store.core import Event
from bot.store.repository import Repository

IN, OUT = "in", "out"  # a person's message to the team; a team answer to the person
ALERT = "alert"  # a hot-lead alert into the person's topic (PostgreSQL: sent by the leader)


@dataclass(frozen=True)
class Relay:
    """One copy to make: `message_id` of `from_chat` into `to_chat`."""

    id: int
    person: int
    direction: str
    to_chat: int
    from_chat: int
    message_id: int
    attempts: int
    header_id: int | None
    card: str | None = None  # an alert's text (HTML)


@dataclass(frozen=True)
class Waiting:
    """A conversation waiting for a team answer."""

    person: int
    first_name: str | None
    last_name: str | None
    username: str | None
    waiting_since: int
    messages: int
    topic: int | None  # its topic in the inbox group asked for, if it has one there


@dataclass(frozen=True)
class TeamCounts:
    """The inbox KPIs of a period: conversations, answered, median seconds to first answer."""

    conversations: int
    answered: int
    median_answer: float | None


# The oldest pending relay of each (person, destination), if due: later ones wait behind it.
_DUE = """
SELECT id, person, direction, to_chat, from_chat, message_id, attempts, header_id, card
FROM team_relays r
WHERE state = 'pending' AND next_at <= ? AND id = (
    SELECT MIN(id) FROM team_relays p
    WHERE p.person = r.person AND p.to_chat = r.to_chat AND p.state = 'pending')
ORDER BY CASE WHEN direction = 'alert' THEN 0 ELSE 1 END, id LIMIT ?
"""


# People (not owners) who wrote to the team in the period, once each ({at}: see _within).
_TALKED = """talked AS (
    SELECT person FROM main.events WHERE kind = 'team_in'{at}
    AND person NOT IN (SELECT user_id FROM temp.owners) GROUP BY person)"""
# Conversations, answered, and the median wait of the first answer in the period of each who
# wrote in it (MIN(at): `value` is the first answer's); the median of an even count is the mean
# of the middle two, all in SQL (no row per person to fetch).
_TEAM_COUNTS = """
WITH {talked},
firsts AS (
    SELECT person, MIN(at), CAST(value AS INTEGER) AS waited FROM main.events
    WHERE kind = 'team_answer'{at} GROUP BY person),
waits AS (SELECT waited FROM firsts JOIN talked USING (person)),
counted AS (SELECT COUNT(*) AS n FROM waits)
SELECT (SELECT COUNT(*) FROM talked), n, (
    SELECT AVG(waited) FROM (
        SELECT waited FROM waits ORDER BY waited
        LIMIT 2 - (SELECT n FROM counted) % 2 OFFSET ((SELECT n FROM counted) - 1) / 2) AS middle)
FROM counted
"""
# Per first source (each person's start, from events_kind_person): conversations, answered.
_TEAM_BY_SOURCE = """
WITH {talked}
SELECT s.source, COUNT(DISTINCT t.person), COUNT(DISTINCT CASE WHEN EXISTS (
    SELECT 1 FROM main.events a WHERE a.kind = 'team_answer' AND a.person = t.person
    {a_at}) THEN t.person END)
FROM talked t CROSS JOIN main.events s ON s.kind = 'start' AND s.person = t.person
GROUP BY s.source ORDER BY 2 DESC, s.source LIMIT 25
"""


class Team(Repository):
    """The team inbox: the relay outbox, conversations, /inbox and its KPIs."""

    async def message_in(
        self,
        person: int,
        from_chat: int,
        message_id: int,
        to_chats: Sequence[int],
        update_id: int | None,
        ack_seconds: float,
    ) -> bool:
        """A person's message for the team, queued for each destination with the conversation's
        bookkeeping in one transaction; True if the person should get the acknowledgement."""
        now = self.now()
        async with self._tx() as db:
            await self._store._lock(db, person)
            queued = 0
            for chat in to_chats:
                cur = await db.execute(
                    "INSERT OR IGNORE INTO team_relays (person, direction, to_chat, from_chat,"
                    " message_id, next_at, created_at, update_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (person, IN, chat, from_chat, message_id, now, now, update_id),
                )
                queued += cur.rowcount
            if to_chats and not queued:  # this very update, replayed: counted already
                return False
            row = await self._one("SELECT acked_at FROM conversations WHERE person = ?", (person,))
            await db.execute(
                "INSERT INTO conversations (person, first_at, last_in_at, waiting_since, messages)"
                " VALUES (?, ?, ?, ?, 1) ON CONFLICT (person) DO UPDATE SET last_in_at = ?,"
                " waiting_since = COALESCE(conversations.waiting_since, ?),"
                " messages = conversations.messages + 1",
                (person, now, now, now, now, now),
            )
            await self._event(db, person, Event.TEAM_IN, update_id=update_id)
            acked = row["acked_at"] if row else None
            ack = acked is None or now - acked >= ack_seconds
            if ack:
                await db.execute(
                    "UPDATE conversations SET acked_at = ? WHERE person = ?", (now, person)
                )
        return ack

    async def answer(
        self, person: int, from_chat: int, message_id: int, update_id: int | None
    ) -> bool:
        """A team member's answer to a person, queued; False if this update queued it already."""
        now = self.now()
        rows = await self._write1(
            "INSERT OR IGNORE INTO team_relays (person, direction, to_chat, from_chat, message_id,"
            " next_at, created_at, update_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (person, OUT, person, from_chat, message_id, now, now, update_id),
        )
        return bool(rows)

    async def alert(self, person: int, chat: int, card: str, update_id: int | None) -> bool:
        """A hot-lead alert queued for the person's topic in the inbox group, behind their
        messages; False if this update queued it already (a replay)."""
        now = self.now()
        rows = await self._write1(
            "INSERT OR IGNORE INTO team_relays (person, direction, to_chat, from_chat, message_id,"
            " next_at, created_at, update_id, card) VALUES (?, ?, ?, ?, 0, ?, ?, ?, ?)"
            " RETURNING id",
            (person, ALERT, chat, person, now, now, update_id, card),
        )
        return bool(rows)

    async def recent_sends(self, chat: int, since: float) -> list[tuple[int, int]]:
        """(second, messages) of each relay sent into `chat` since then (the group's pace)."""
        rows = await self._all(
            "SELECT sent_at, sends FROM team_relays WHERE to_chat = ? AND sent_at >= ?"
            " AND state = 'sent'",
            (chat, int(since)),
        )
        return [(int(r[0]), int(r[1] or 1)) for r in rows]

    async def due(self, limit: int = 64) -> list[Relay]:
        """Relays that may go now: the head of each (person, destination) queue, oldest first."""
        rows = await self._all(_DUE, (self.now(), limit))
        return [Relay(*tuple(r)) for r in rows]

    async def pending(self) -> int:
        """Relays not yet sent (waiting for their turn, the group's pace or a retry)."""
        row = await self._one("SELECT COUNT(*) FROM team_relays WHERE state = 'pending'")
        return int(row[0]) if row else 0

    async def header(self, relay_id: int, header_id: int) -> None:
        """The relay's header is out: a retry copies the message without a second header."""
        await self._write1(
            "UPDATE team_relays SET header_id = ? WHERE id = ?", (header_id, relay_id)
        )

    async def sent(self, relay: Relay, copy_id: int, sends: int = 1) -> None:
        """Delivered (`sends` messages into its chat): replies to the copy (and its header)
        reach the person; an answer ends the person's wait (its time to answer logged once per
        wait)."""
        now = self.now()
        async with self._tx() as db:
            await self._store._lock(db, relay.person)
            await db.execute(
                "UPDATE team_relays SET state = 'sent', sent_at = ?, copy_id = ?, error = NULL,"
                " sends = ? WHERE id = ?",
                (now, copy_id, sends, relay.id),
            )
            if relay.direction != OUT:
                return
            row = await self._one(
                "SELECT waiting_since FROM conversations WHERE person = ?", (relay.person,)
            )
            if row is not None and row["waiting_since"] is not None:
                waited = str(max(0, now - int(row["waiting_since"])))
                await self._event(db, relay.person, Event.TEAM_ANSWER, value=waited)
                await db.execute(
                    "UPDATE conversations SET waiting_since = NULL WHERE person = ?",
                    (relay.person,),
                )

    async def retry(self, relay_id: int, next_at: float, error: str, failed: bool = True) -> None:
        """Not sent this time (pacing, 429, network): tried again at `next_at`, still in its
        place; `failed` counts an attempt (a paced relay has not failed)."""
        await self._write1(
            "UPDATE team_relays SET attempts = attempts + ?, next_at = ?, error = ? WHERE id = ?",
            (int(failed), int(next_at + 0.999), error[:300], relay_id),
        )

    async def failed(self, relay_id: int, error: str) -> None:
        """Never deliverable (blocked, erased, message gone): kept as failed, with the reason."""
        await self._write1(
            "UPDATE team_relays SET state = 'failed', error = ? WHERE id = ?",
            (error[:300], relay_id),
        )

    async def person_of(self, chat: int, message_id: int) -> int | None:
        """The person a message in a team chat is about: a copy of theirs, a header, an alert."""
        row = await self._one(
            "SELECT person FROM team_relays WHERE to_chat = ? AND copy_id = ? AND direction = ?"
            " UNION ALL SELECT user_id FROM relays WHERE owner_chat = ? AND message_id = ?"
            " LIMIT 1",
            (chat, message_id, IN, chat, message_id),
        )
        return int(row[0]) if row else None

    async def last_in(self, person: int) -> int | None:
        """When the person last wrote to the team, if ever."""
        row = await self._one(
            "SELECT last_in_at FROM conversations WHERE person = ? AND messages > 0", (person,)
        )
        return int(row[0]) if row else None

    async def topic(self, person: int, chat: int) -> int | None:
        """The person's forum topic in that inbox group, if one was opened."""
        row = await self._one(
            "SELECT topic_id FROM conversations WHERE person = ? AND topic_chat = ?",
            (person, chat),
        )
        return int(row[0]) if row and row[0] is not None else None

    async def set_topic(
        self, person: int, chat: int, topic: int | None, title: str | None = None
    ) -> None:
        """The person's topic and its title (None: it was deleted, a new one opens at the next
        message)."""
        now = self.now()
        await self._write1(
            "INSERT INTO conversations (person, first_at, last_in_at, topic_chat, topic_id,"
            " topic_title) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (person) DO UPDATE SET"
            " topic_chat = ?, topic_id = ?, topic_title = ?, topic_claimed_at = NULL",
            (person, now, now, chat, topic, title, chat, topic, title),
        )

    async def topic_claimed(self, person: int, stale: float) -> bool:
        """Whether a claim to open the person's topic, younger than `stale` seconds, stands."""
        row = await self._one(
            "SELECT 1 FROM conversations WHERE person = ? AND topic_claimed_at > ?",
            (person, self.now() - int(stale)),
        )
        return row is not None

    async def claim_topic(self, person: int, chat: int, stale: float) -> int | None:
        """Claim the opening of the person's topic in `chat`, committed before createForumTopic:
        the claim's time (for its release), or None while another claim younger than `stale`
        seconds stands or the topic is stored already (opened by whoever claimed it last)."""
        now = self.now()
        rows = await self._write1(
            "INSERT INTO conversations (person, first_at, last_in_at, topic_claimed_at)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (person) DO UPDATE SET topic_claimed_at = ?"
            " WHERE (conversations.topic_claimed_at IS NULL"
            " OR conversations.topic_claimed_at <= ?)"
            " AND (conversations.topic_id IS NULL OR conversations.topic_chat <> ?)"
            " RETURNING person",
            (person, now, now, now, now, now - int(stale), chat),
        )
        return now if rows else None

    async def release_topic(self, person: int, claimed_at: int) -> None:
        """The topic was not opened after all: this claim goes (the next try claims again);
        a newer claim (a slow call's release after its claim went stale) stays."""
        await self._write1(
            "UPDATE conversations SET topic_claimed_at = NULL"
            " WHERE person = ? AND topic_claimed_at = ?",
            (person, claimed_at),
        )

    async def topic_title(self, person: int) -> str | None:
        """The title the person's topic was last given (None: not known)."""
        row = await self._one("SELECT topic_title FROM conversations WHERE person = ?", (person,))
        return row[0] if row else None

    async def set_topic_title(self, person: int, title: str) -> None:
        """The person's topic was renamed."""
        await self._write1(
            "UPDATE conversations SET topic_title = ? WHERE person = ?", (title, person)
        )

    async def retarget(self, chat: int) -> int:
        """Messages still waiting for an inbox group other than `chat` (INBOX_CHAT_ID changed,
        e.g. to the new id of a migrated group) go to `chat` instead, each person's in order;
        returns how many."""
        rows = await self._write1(
            "UPDATE OR IGNORE team_relays SET to_chat = ?, next_at = ?, error = NULL"
            " WHERE state = 'pending' AND direction = ? AND to_chat < 0 AND to_chat != ?"
            " RETURNING id",
            (chat, self.now(), IN, chat),
        )
        # Alerts too (PostgreSQL queues them), unless this update's alert is there already.
        alerts = await self._write1(
            "UPDATE team_relays SET to_chat = ?, next_at = ?, error = NULL"
            " WHERE state = 'pending' AND direction = ? AND to_chat < 0 AND to_chat != ?"
            " AND (update_id IS NULL OR NOT EXISTS (SELECT 1 FROM team_relays o"
            " WHERE o.update_id = team_relays.update_id AND o.to_chat = ?)) RETURNING id",
            (chat, self.now(), ALERT, chat, chat),
        )
        return len(rows) + len(alerts)

    async def person_in_topic(self, chat: int, topic: int) -> int | None:
        """Whose topic this is."""
        row = await self._one(
            "SELECT person FROM conversations WHERE topic_chat = ? AND topic_id = ?",
            (chat, topic),
        )
        return int(row[0]) if row else None

    async def copies_of(self, person: int) -> list[tuple[int, int]]:
        """(chat, message id) of every copy of this person's messages in team chats."""
        rows = await self._all(
            "SELECT to_chat, copy_id FROM team_relays WHERE person = ? AND direction = ?"
            " AND copy_id IS NOT NULL",
            (person, IN),
        )
        return [(int(r[0]), int(r[1])) for r in rows]

    async def stored(self, person: int) -> tuple[int, int | None]:
        """How many of the person's messages the inbox holds, and since when."""
        row = await self._one(
            "SELECT COUNT(DISTINCT message_id), MIN(created_at) FROM team_relays"
            " WHERE person = ? AND direction = ?",
            (person, IN),
        )
        return (int(row[0]), row[1]) if row else (0, None)

    async def waiting(self, group: int | None = None, limit: int = 30) -> list[Waiting]:
        """Conversations waiting for an answer, oldest first (with their topic in `group`)."""
        rows = await self._all(
            "SELECT c.person, l.first_name, l.last_name, l.username, c.waiting_since, c.messages,"
            " CASE WHEN c.topic_chat = ? THEN c.topic_id END"
            " FROM conversations c LEFT JOIN leads l ON l.user_id = c.person"
            " WHERE c.waiting_since IS NOT NULL ORDER BY c.waiting_since, c.person LIMIT ?",
            (group, limit),
        )
        return [Waiting(*tuple(r)) for r in rows]

    async def done(self, person: int) -> bool:
        """An owner marks a conversation handled without answering; False if it was not waiting."""
        rows = await self._write1(
            "UPDATE conversations SET waiting_since = NULL"
            " WHERE person = ? AND waiting_since IS NOT NULL RETURNING person",
            (person,),
        )
        return bool(rows)

    async def counts(self, period: Period) -> TeamCounts:
        """Conversations (people who wrote to the team) of a period, how many the team answered
        in it, and the median time to a first answer (the first of each person's in the period)."""
        row = await self._one(*_within(_TEAM_COUNTS, period))
        if row is None:
            return TeamCounts(0, 0, None)
        median = None if row[2] is None else float(row[2])
        return TeamCounts(int(row[0]), int(row[1]), median)

    async def by_source(self, period: Period) -> list[tuple[str | None, int, int]]:
        """(first source, conversations, answered) of a period, the busiest sources first."""
        rows = await self._all(*_within(_TEAM_BY_SOURCE, period))
        return [(r[0], int(r[1]), int(r[2])) for r in rows]

    async def forget(self, db: aiosqlite.Connection, person: int) -> None:
        """Erasure: the person's relays and conversation go (events are re-keyed by erase)."""
        await db.execute("DELETE FROM team_relays WHERE person = ?", (person,))
        await db.execute("DELETE FROM conversations WHERE person = ?", (person,))


def _within(sql: str, period: Period) -> tuple[str, tuple[int, ...]]:
    """A team KPI query and its parameters for a period. All time has no bounds on `at`: each
    kind is then read in person order from events_kind_person, grouped without a sort."""
    if period.is_all:
        return sql.format(talked=_TALKED.format(at=""), at="", a_at=""), ()
    bounds = " AND at >= ?1 AND at < ?2"
    text = sql.format(
        talked=_TALKED.format(at=bounds), at=bounds, a_at="AND a.at >= ?1 AND a.at < ?2"
    )
    return text, (period.start, period.end)
