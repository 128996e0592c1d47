"""End to end: the bot as a process with an inbox group, killed while relays are queued."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.fakeapi import FakeTelegram, FakeTelegramServer
from tests.test_e2e_kill import USER, BotProcess, count, wait_for

OWNER = 900001
GROUP = -1009876543210
TEAM = 700001


def copies(fake: FakeTelegram) -> list[str]:
    """What the inbox group shows of the person's messages, in order (a voice note: `voice`)."""
    return [
        s.text or ("voice" if "voice" in s.message else "?")
        for s in fake.sent_to(GROUP)
        if s.method == "copyMessage"
    ]


def test_sigkill_while_relays_are_queued_loses_none(
    tmp_path: Path, backend: dict[str, Any]
) -> None:
    fake = FakeTelegram()
    fake.add_forum(GROUP)
    fake.add_user(OWNER, first_name="Owner")
    with FakeTelegramServer(fake) as server:
        bot = BotProcess(
            server,
            fake,
            tmp_path,
            backend,
            OWNER_IDS=str(OWNER),
            INBOX_CHAT_ID=str(GROUP),
            OUTBOX_CHECK_SECONDS="0.2",
        )
        db = bot.db
        try:
            bot.start()
            fake.message(USER, "/start")
            wait_for(lambda: len(fake.sent_to(USER)) >= 1)
            # Telegram gets stuck on the first copy: the other messages queue up behind it.
            fake.hold("copyMessage")
            fake.message(USER, "How much is a wedding shoot?")
            fake.photo(USER, caption="like this one")
            fake.enqueue(fake.build_media(USER, "voice"))
            fake.message(USER, "and in June?")
            assert fake.wait_until_holding(15)
            wait_for(lambda: count(db, "SELECT COUNT(*) FROM team_relays") == 4)
            wait_for(lambda: count(db, "SELECT COUNT(*) FROM inbox WHERE done_at IS NULL") == 0)
            assert bot.proc is not None
            bot.proc.kill()  # the first copy in flight, three waiting behind it
            bot.proc.wait(timeout=10)
            fake.release(drop=True)  # the connection died with the process: nothing delivered
            assert copies(fake) == []

            bot.start()  # the outbox is the truth: everything goes, in order, once
            wait_for(lambda: len(copies(fake)) == 4)
            assert copies(fake) == [
                "How much is a wedding shoot?",
                "like this one",
                "voice",
                "and in June?",
            ]
            assert len(fake.topics[GROUP]) == 1  # the topic opened before the kill is reused
            [thread] = fake.topics[GROUP]
            # A team member answers in the topic: the person gets it, the team sees a reaction.
            written = fake.build_group_message(GROUP, TEAM, "From 900 €", thread=thread)
            answer = fake.enqueue(written)
            wait_for(lambda: fake.last_to(USER).text == "From 900 €")
            key = (GROUP, answer["message"]["message_id"])
            wait_for(lambda: fake.reactions.get(key) == ["👍"])
            # Each copy is recorded once its answer is back (the fake shows it a moment before).
            wait_for(
                lambda: count(db, "SELECT COUNT(*) FROM team_relays WHERE state != 'sent'") == 0
            )
            assert not fake.violations
        finally:
            bot.kill()
