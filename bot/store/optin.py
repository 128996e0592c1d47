"""Store methods for double opt-in: verification codes and the outbox of emails to send."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from enum import StrEnum

from bot.outbox.events import HookType
from bot.store.core import Event
from bot.store.repository import Repository


class Verdict(StrEnum):
    """What a typed code did."""

    VERIFIED = "verified"
    WRONG = "wrong"  # attempts left
    LOCKED = "locked"  # too many wrong codes: a new one is needed
    EXPIRED = "expired"
    NO_CODE = "no_code"  # none issued, or issued for an address that is no longer theirs


@dataclass(frozen=True)
class PendingCode:
    """The live code of a person (its hash only: the code itself is in the mail)."""

    email: str
    magnet_id: str | None
    issued_at: int
    expires_at: int
    attempts: int


@dataclass(frozen=True)
class Mail:
    """A verification email waiting for the SMTP server."""

    id: int
    user_id: int
    to_addr: str
    code: str
    magnet_id: str | None
    language: str
    attempts: int
    created_at: int


def address_key(email: str) -> str:
    """An address as the daily limit counts it: `Ada+x@Gmail.com` and `a.d.a@gmail.com` are
    one mailbox. A SHA-256, kept one day."""
    local, _, domain = email.strip().lower().rpartition("@")
    local = local.split("+", 1)[0]
    if domain in ("gmail.com", "googlemail.com"):
        local, domain = local.replace(".", ""), "gmail.com"
    return "a:" + hashlib.sha256(f"{local}@{domain}".encode()).hexdigest()


def person_key(user_id: int) -> str:
    """A person as the daily limit counts them (survives their erasure for that day)."""
    return "p:" + hashlib.sha256(f"person:{user_id}".encode()).hexdigest()


def code_hash(user_id: int, code: str) -> str:
    """What is stored of a code: bound to its person, so another person's code never matches."""
    return hashlib.sha256(f"{user_id}:{code}".encode()).hexdigest()


class Optin(Repository):
    """Double opt-in: verification codes and the outbox of mails to send."""

    async def issue_code(
        self,
        user_id: int,
        email: str,
        code: str,
        *,
        magnet_id: str | None,
        language: str,
        ttl_seconds: int,
        update_id: int | None,
    ) -> bool:
        """A new code and the mail that carries it, in one transaction; older mails are dropped.

        False if this update already issued one (a replay after a crash).
        """
        now = self.now()
        async with self._tx() as db:
            await self._store._lock(db, user_id)
            if update_id is not None and await self._one(
                "SELECT 1 FROM mails WHERE update_id = ?", (update_id,)
            ):
                return False
            await db.execute(
                "UPDATE mails SET state = 'replaced', code = NULL, to_addr = ''"
                " WHERE user_id = ? AND state = 'pending'",
                (user_id,),
            )
            await db.execute(
                "INSERT OR REPLACE INTO optin_codes (user_id, email, code_hash, magnet_id,"
                " issued_at, expires_at, attempts) VALUES (?, ?, ?, ?, ?, ?, 0)",
                (user_id, email, code_hash(user_id, code), magnet_id, now, now + ttl_seconds),
            )
            await db.execute(
                "INSERT INTO mails (user_id, to_addr, code, magnet_id, language, next_at,"
                " created_at, update_id, addr_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    user_id,
                    email,
                    code,
                    magnet_id,
                    language,
                    now,
                    now,
                    update_id,
                    address_key(email),
                ),
            )
        return True

    async def pending_code(self, user_id: int) -> PendingCode | None:
        """The person's live code, if any."""
        row = await self._one(
            "SELECT email, magnet_id, issued_at, expires_at, attempts FROM optin_codes"
            " WHERE user_id = ?",
            (user_id,),
        )
        return PendingCode(**dict(row)) if row else None

    async def check_code(self, user_id: int, typed: str, max_attempts: int) -> tuple[Verdict, int]:
        """Compare a typed code with the live one: (verdict, attempts left)."""
        now = self.now()
        async with self._tx() as db:
            await self._store._lock(db, user_id)
            row = await self._one(
                "SELECT c.code_hash, c.expires_at, c.attempts, c.magnet_id, l.email = c.email"
                " AS current FROM optin_codes c JOIN leads l USING (user_id)"
                " WHERE c.user_id = ?",
                (user_id,),
            )
            if row is None or not row["current"]:
                return Verdict.NO_CODE, 0
            if row["attempts"] >= max_attempts:
                return Verdict.LOCKED, 0
            if now >= row["expires_at"]:
                return Verdict.EXPIRED, 0
            if not hmac.compare_digest(row["code_hash"], code_hash(user_id, typed)):
                await db.execute(
                    "UPDATE optin_codes SET attempts = attempts + 1 WHERE user_id = ?", (user_id,)
                )
                left = max_attempts - row["attempts"] - 1
                return (Verdict.WRONG if left > 0 else Verdict.LOCKED), left
            await db.execute("DELETE FROM optin_codes WHERE user_id = ?", (user_id,))
            await db.execute(
                "UPDATE leads SET email_verified_at = ?, updated_at = ? WHERE user_id = ?",
                (now, now, user_id),
            )
            first = await self._one(
                "SELECT 1 FROM events WHERE person = ? AND kind = ?",
                (user_id, Event.VERIFIED.value),
            )
            if first is None:  # a KPI counts people: the first verification only
                source = await self._one(
                    "SELECT first_source FROM leads WHERE user_id = ?", (user_id,)
                )
                await self._event(
                    db,
                    user_id,
                    Event.VERIFIED,
                    magnet_id=row["magnet_id"],
                    source=source["first_source"] if source else None,
                )
            await self._hook(db, user_id, HookType.VERIFIED, {"magnet": row["magnet_id"]})
        return Verdict.VERIFIED, max_attempts - row["attempts"]

    async def codes_since(self, user_id: int, email: str, since: int) -> int:
        """Mails that left (or are leaving) since `since` for this person or this mailbox,
        whichever is more, plus one waiting to go: hashed counts that survive /forget; a mail
        that never reached the server does not count."""
        person, mailbox = person_key(user_id), address_key(email)
        row = await self._one(
            "SELECT (SELECT COUNT(*) FROM mail_quota WHERE key = ? AND at >= ?)"
            " + (SELECT COUNT(*) FROM mails WHERE user_id = ? AND state = 'pending'),"
            " (SELECT COUNT(*) FROM mail_quota WHERE key = ? AND at >= ?)"
            " + (SELECT COUNT(*) FROM mails WHERE addr_key = ? AND state = 'pending')",
            (person, since, user_id, mailbox, since, mailbox),
        )
        return max(int(row[0]), int(row[1])) if row else 0

    async def claim_mail(self, mail: Mail) -> None:
        """A mail is about to be handed to the server: it counts from now (see codes_since)."""
        now = self.now()
        async with self._tx() as db:
            await db.executemany(
                "INSERT INTO mail_quota (key, at, mail_id) VALUES (?, ?, ?)",
                [
                    (person_key(mail.user_id), now, mail.id),
                    (address_key(mail.to_addr), now, mail.id),
                ],
            )

    async def unclaim_mail(self, mail_id: int) -> None:
        """The attempt failed: the mail did not leave, it does not count."""
        await self._write1("DELETE FROM mail_quota WHERE mail_id = ?", (mail_id,))

    async def refused_before(self, user_id: int, email: str) -> str | None:
        """Why the server refused this address for good, if the person's latest mail to it was."""
        row = await self._one(
            "SELECT state, error, addr_key FROM mails WHERE user_id = ? ORDER BY id DESC LIMIT 1",
            (user_id,),
        )
        if row and row["state"] == "refused" and row["addr_key"] == address_key(email):
            return str(row["error"] or "")
        return None

    async def prune_quota(self) -> None:
        """The daily counts are kept one day."""
        await self._write1("DELETE FROM mail_quota WHERE at < ?", (self.now() - 86400,))

    async def due_mails(self, limit: int = 20) -> list[Mail]:
        """Mails whose (next) attempt is due, oldest first."""
        rows = await self._all(
            "SELECT id, user_id, to_addr, code, magnet_id, language, attempts, created_at"
            " FROM mails WHERE state = 'pending' AND next_at <= ? ORDER BY next_at, id LIMIT ?",
            (self.now(), limit),
        )
        return [Mail(**dict(r)) for r in rows]

    async def mail_sent(self, mail_id: int) -> bool:
        """The SMTP server took it: the code leaves the outbox. False if replaced or erased
        meanwhile (it left all the same: its claim keeps counting)."""
        rows = await self._write1(
            "UPDATE mails SET state = 'sent', code = NULL, to_addr = '', sent_at = ?, error = NULL"
            " WHERE id = ? AND state = 'pending' RETURNING id",
            (self.now(), mail_id),
        )
        return bool(rows)

    async def mail_retry(self, mail_id: int, next_at: int, error: str) -> None:
        """A temporary failure (server down, busy, slow): try again at `next_at`."""
        await self._write1(
            "UPDATE mails SET attempts = attempts + 1, next_at = ?, error = ?"
            " WHERE id = ? AND state = 'pending'",
            (next_at, error[:500], mail_id),
        )

    async def mail_failed(self, mail_id: int, error: str, refused: bool = False) -> bool:
        """Retried too long (`failed`) or refused for good (`refused`); False if it was not
        pending any more."""
        rows = await self._write1(
            "UPDATE mails SET state = ?, attempts = attempts + 1, code = NULL,"
            " to_addr = '', error = ?"
            " WHERE id = ? AND state = 'pending' RETURNING id",
            ("refused" if refused else "failed", error[:500], mail_id),
        )
        return bool(rows)

    async def mail_counts(self) -> dict[str, int]:
        """How many mails are in each state (pending, sent, failed, refused, replaced)."""
        rows = await self._all("SELECT state, COUNT(*) AS n FROM mails GROUP BY state")
        return {r["state"]: int(r["n"]) for r in rows}

    async def mail_error(self, user_id: int) -> str | None:
        """Why the person's latest mail failed, if it did."""
        row = await self._one(
            "SELECT state, error FROM mails WHERE user_id = ? ORDER BY id DESC LIMIT 1",
            (user_id,),
        )
        return row["error"] if row and row["state"] in ("failed", "refused") else None
