"""End to end: the bot as a process, killed while a verification mail and a webhook event are
in flight (the mail server and the CRM both hold the request); after the restart both arrive,
the webhook event under the same id, exactly once, and the code from the mail still works."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakeapi import FakeTelegram, FakeTelegramServer
from tests.receiver import Receiver, receiver_in_thread
from tests.smtp_server import SmtpServer
from tests.test_e2e_kill import USER, BotProcess, wait_for

SECRET = "e2e-webhook-secret"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """The CRM's receiver, on its own event loop in a thread (the test itself is blocking)."""
    with receiver_in_thread(SECRET) as server:
        yield server
    assert server.rejected == 0


def test_sigkill_with_mail_and_webhook_in_flight(
    tmp_path: Path, receiver: Receiver, backend: dict[str, Any]
) -> None:
    smtp = SmtpServer()
    smtp.inbox.delay = 30  # the mail server holds the mail until the bot is killed
    smtp.start()
    receiver.mode, receiver.hang_seconds = "hang", 30  # so does the CRM
    fake = FakeTelegram()
    try:
        with FakeTelegramServer(fake) as server:
            bot = BotProcess(
                server,
                fake,
                tmp_path,
                backend,
                SMTP_HOST="127.0.0.1",
                SMTP_PORT=str(smtp.port),
                SMTP_SECURITY="none",
                SMTP_SENDER="hello@example.com",
                SMTP_TIMEOUT="60",
                CRM_WEBHOOK_URLS=receiver.url,
                CRM_WEBHOOK_SECRET=SECRET,
                CRM_WEBHOOK_TIMEOUT="60",
                OUTBOX_CHECK_SECONDS="0.2",
            )
            try:
                bot.start()
                fake.message(USER, "/start instagram__what-to-wear")
                wait_for(lambda: "email address" in fake.last_to(USER).text)
                fake.message(USER, "ada@example.com")
                wait_for(lambda: "6-digit code" in fake.last_to(USER).text)
                wait_for(lambda: receiver.hanging == 1)
                [(_, held_id)] = receiver.requests
                assert bot.proc is not None
                bot.proc.kill()  # both requests in flight
                bot.proc.wait(timeout=10)
                assert smtp.inbox.messages == [] and receiver.accepted == []

                smtp.inbox.delay = 0
                receiver.mode = "ok"
                bot.start()
                wait_for(lambda: len(smtp.inbox.messages) == 1)
                wait_for(lambda: len(receiver.accepted) == 1)
                assert receiver.ids() == [held_id]  # the same event, under the same id
                assert receiver.types() == ["lead.captured"]
                fake.message(USER, smtp.inbox.code_for("ada@example.com"))
                wait_for(lambda: fake.last_to(USER).text == "What kind of shoot are you planning?")
                wait_for(lambda: receiver.types() == ["lead.captured", "lead.verified"])
                bot.stop(15)
                assert bot.proc.returncode == 0
                assert len(set(receiver.ids())) == 2 and len(smtp.inbox.messages) == 1
            finally:
                bot.kill()
    finally:
        smtp.stop()
