"""Double opt-in against a real local SMTP server (aiosmtpd): codes typed in chat like a user."""

from __future__ import annotations

import csv
import io
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.smtp import AuthResult, LoginPassword

from bot.funnel.optin import MailContent, build_mail, typed_code
from bot.ops.checks import smtp_problem
from bot.owner.export import export_csv
from bot.owner.periods import ALL_TIME
from bot.settings import SettingsError, load_settings
from bot.store import Event
from tests import db
from tests.conftest import OWNER, Clock, Harness, stop_harness
from tests.smtp_server import SmtpServer

ADA, BOB = 1001, 1002
WEAR = "What to wear for your photo shoot"
Make = Callable[..., Awaitable[Harness]]

pytestmark = pytest.mark.usefixtures("backend")  # every test on SQLite and PostgreSQL


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def optin(bot_with: Make, smtp: SmtpServer) -> AsyncIterator[Make]:
    """A bot with double opt-in against the local SMTP server (PDF waits unless told)."""

    async def make(**overrides: Any) -> Harness:
        values = smtp.settings(smtp_sender="Aimant <hello@example.com>", smtp_timeout=2)
        return await bot_with(**{**values, **overrides})

    yield make


async def give_email(bot: Harness, user: int = ADA, email: str = "ada@example.com") -> None:
    await bot.text(user, "/start instagram")
    await bot.tap_label(user, WEAR)
    await bot.text(user, email)
    await bot.svc.mailer.drain()


async def test_code_from_the_mail_unlocks_the_pdf(optin: Make, smtp: SmtpServer) -> None:
    bot = await optin()
    await give_email(bot)
    prompt = bot.last(ADA)
    assert "6-digit code to ada@example.com" in prompt.text
    assert [row[0][0] for row in prompt.buttons] == ["📧 Send a new code", "✏️ Change email"]
    assert not any(s.document for s in bot.chat(ADA))  # the PDF waits
    [mail] = smtp.inbox.to("ada@example.com")
    code = smtp.inbox.code_for("ada@example.com")
    assert mail["Subject"] == f"Your confirmation code: {code}"
    assert mail["From"] == "Aimant <hello@example.com>"
    [attachment] = list(mail.iter_attachments())
    assert attachment.get_filename() == "what-to-wear.en.pdf"
    assert attachment.get_content().startswith(b"%PDF-")
    await bot.text(ADA, code[:3] + " " + code[3:])  # typed with a space, as people do
    assert bot.texts(ADA)[-2] == "✅ Thanks, ada@example.com is verified."
    assert bot.last(ADA).text == "What kind of shoot are you planning?"
    await bot.tap_label(ADA, "Family or kids")
    assert bot.chat(ADA)[-2].document == "what-to-wear.en.pdf"
    lead = await bot.svc.store.leads.get(ADA)
    assert lead is not None and lead.email_verified_at == int(bot.clock.now)
    assert await bot.svc.store.count_events(Event.VERIFIED, ADA) == 1
    assert await bot.svc.store.optin.mail_counts() == {"sent": 1}
    await bot.text(ADA, code)  # six digits later, no code waiting: not taken for a code
    assert bot.last(ADA).text == bot.t("inbox_ack")
    await bot.text(ADA, "/plan")  # owners see the verified address on the lead card
    assert any("Email: ada@example.com ✅ verified" in text for text in bot.texts(OWNER))


async def test_wrong_codes_are_counted_then_locked(optin: Make, smtp: SmtpServer) -> None:
    bot = await optin(optin_max_attempts=3)
    await give_email(bot)
    code = smtp.inbox.code_for("ada@example.com")
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    await bot.text(ADA, wrong)
    assert bot.last(ADA).text.startswith("That code doesn't match. Tries left: 2.")
    await bot.text(ADA, wrong)
    await bot.text(ADA, wrong)
    assert bot.last(ADA).text.startswith("Too many wrong codes.")
    await bot.text(ADA, code)  # the right code, too late: the code is locked
    assert bot.last(ADA).text.startswith("Too many wrong codes.")
    bot.clock.now += 61
    await bot.tap_label(ADA, "📧 Send a new code")
    await bot.svc.mailer.drain()
    assert "A new code is on its way" in bot.last(ADA).text
    fresh = smtp.inbox.code_for("ada@example.com")
    assert len(smtp.inbox.to("ada@example.com")) == 2
    await bot.text(ADA, fresh)
    assert "is verified" in bot.texts(ADA)[-2]


async def test_expired_code(optin: Make, smtp: SmtpServer, clock: Clock) -> None:
    bot = await optin(optin_code_minutes=30)
    await give_email(bot)
    code = smtp.inbox.code_for("ada@example.com")
    clock.now += 30 * 60
    await bot.text(ADA, code)
    assert bot.last(ADA).text.startswith("This code has expired.")
    lead = await bot.svc.store.leads.get(ADA)
    assert lead is not None and lead.email_verified_at is None


async def test_another_persons_code_does_not_work(optin: Make, smtp: SmtpServer) -> None:
    bot = await optin()
    await give_email(bot, ADA, "ada@example.com")
    await give_email(bot, BOB, "bob@example.com")
    ada_code = smtp.inbox.code_for("ada@example.com")
    bob_code = smtp.inbox.code_for("bob@example.com")
    if ada_code == bob_code:  # one chance in a million: the test means different codes
        pytest.skip("both codes happen to be equal")
    await bot.text(BOB, ada_code)
    assert bot.last(BOB).text.startswith("That code doesn't match.")
    lead = await bot.svc.store.leads.get(BOB)
    assert lead is not None and lead.email_verified_at is None
    await bot.text(BOB, bob_code)
    assert "bob@example.com is verified" in bot.texts(BOB)[-2]


async def test_resend_waits_and_old_codes_stop_working(optin: Make, smtp: SmtpServer) -> None:
    bot = await optin(optin_resend_seconds=60)
    await give_email(bot)
    first = smtp.inbox.code_for("ada@example.com")
    await bot.tap_label(ADA, "📧 Send a new code")
    assert (
        bot.fake.answered_callbacks[-1].text
        == "A code was just sent: you can ask for a new one in 60 s."
    )
    bot.clock.now += 60
    await bot.tap_label(ADA, "📧 Send a new code")
    await bot.svc.mailer.drain()
    second = smtp.inbox.code_for("ada@example.com")
    if first == second:
        pytest.skip("both codes happen to be equal")
    await bot.text(ADA, first)
    assert bot.last(ADA).text.startswith("That code doesn't match.")
    await bot.text(ADA, second)
    assert "is verified" in bot.texts(ADA)[-2]


async def test_change_email_sends_a_code_to_the_new_address(optin: Make, smtp: SmtpServer) -> None:
    bot = await optin()
    await give_email(bot, email="ada@exmaple.org")
    old = smtp.inbox.code_for("ada@exmaple.org")
    await bot.tap_label(ADA, "✏️ Change email")
    assert bot.last(ADA).text.startswith("OK: type the email address")
    await bot.text(ADA, "ada@example.org")
    await bot.svc.mailer.drain()
    new = smtp.inbox.code_for("ada@example.org")
    assert "ada@example.org" in bot.last(ADA).text
    if old != new:
        await bot.text(ADA, old)
        assert bot.last(ADA).text.startswith("That code doesn't match.")
    await bot.text(ADA, new)
    lead = await bot.svc.store.leads.get(ADA)
    assert lead is not None and (lead.email, lead.email_verified_at is not None) == (
        "ada@example.org",
        True,
    )


async def test_typing_another_address_instead_of_the_code(optin: Make, smtp: SmtpServer) -> None:
    bot = await optin()
    await give_email(bot)
    await bot.text(ADA, "ada.lovelace@example.com")
    await bot.svc.mailer.drain()
    assert smtp.inbox.to("ada.lovelace@example.com")
    await bot.text(ADA, "a sticker would be next")
    assert bot.last(ADA).text.startswith("I'm waiting for the 6-digit code")


async def test_pdf_need_not_wait(optin: Make, smtp: SmtpServer) -> None:
    bot = await optin(optin_pdf_waits=False, optin_mail_magnet="link")
    await give_email(bot)
    assert "when you have it" in bot.texts(ADA)[-2]  # the code message, then the question
    assert bot.last(ADA).text == "What kind of shoot are you planning?"
    await bot.tap_label(ADA, "Family or kids")
    assert bot.chat(ADA)[-2].document == "what-to-wear.en.pdf"
    [mail] = smtp.inbox.to("ada@example.com")
    assert not list(mail.iter_attachments())
    body = mail.get_body(preferencelist=("plain",))
    assert body is not None and "https://t.me/" in body.get_content()
    assert "?start=what-to-wear" in body.get_content()
    await bot.text(ADA, smtp.inbox.code_for("ada@example.com"))  # later, out of any step
    assert bot.last(ADA).text == "✅ Thanks, ada@example.com is verified."


async def test_address_the_server_refuses(optin: Make, smtp: SmtpServer) -> None:
    smtp.inbox.refuse.add("nobody@example.com")
    bot = await optin()
    await give_email(bot, email="nobody@example.com")
    refused = bot.last(ADA)
    assert refused.text.startswith("⚠️ The mail server refused nobody@example.com (550")
    assert [row[0][0] for row in refused.buttons] == ["✏️ Change email"]  # not "resend"
    assert any("was not delivered: 550" in text for text in bot.texts(OWNER))
    assert await bot.svc.store.optin.mail_counts() == {"refused": 1}
    await bot.tap_label(ADA, "✏️ Change email")
    await bot.text(ADA, "ada@example.com")
    await bot.svc.mailer.drain()
    await bot.text(ADA, smtp.inbox.code_for("ada@example.com"))
    assert "is verified" in bot.texts(ADA)[-2]


async def test_server_down_retries_then_gives_up(
    optin: Make, smtp: SmtpServer, clock: Clock
) -> None:
    smtp.stop()
    bot = await optin(optin_mail_retry_minutes=10)
    await give_email(bot)
    assert "6-digit code" in bot.last(ADA).text  # the chat did not wait for the server
    assert await bot.svc.store.optin.mail_counts() == {"pending": 1}
    assert any("are not going out" in text for text in bot.texts(OWNER))
    smtp.start()  # back before the window closes: the retry delivers it
    clock.now += 15
    await bot.svc.mailer.tick()
    assert await bot.svc.store.optin.mail_counts() == {"sent": 1}
    code = smtp.inbox.code_for("ada@example.com")
    smtp.stop()
    bot.clock.now += 61
    await bot.tap_label(ADA, "📧 Send a new code")
    await bot.svc.mailer.drain()
    for _ in range(8):  # down for good: retried with backoff until the window closes
        clock.now += 120
        await bot.svc.mailer.tick()
    assert await bot.svc.store.optin.mail_counts() == {"sent": 1, "failed": 1}
    assert bot.last(ADA).text.startswith("⚠️ I couldn't send the code to ada@example.com")
    assert "could not reach the mail server" in bot.texts(OWNER)[-1]
    await bot.text(ADA, code)  # the first code was replaced by the one that never left
    assert bot.last(ADA).text.startswith("That code doesn't match.")


async def test_slow_server_never_holds_the_chat(
    optin: Make, smtp: SmtpServer, clock: Clock
) -> None:
    smtp.inbox.delay = 1.5
    bot = await optin(smtp_timeout=0.5)
    await bot.text(ADA, "/start instagram")
    await bot.tap_label(ADA, WEAR)
    await bot.text(ADA, "ada@example.com")
    # The reply was sent while the mail was still waiting for the server.
    assert "6-digit code" in bot.last(ADA).text
    assert await bot.svc.store.optin.mail_counts() == {"pending": 1}
    await bot.svc.mailer.drain()  # the slow server timed out: a retry is scheduled
    assert await bot.svc.store.optin.mail_counts() == {"pending": 1}
    assert await bot.svc.store.optin.mail_error(ADA) is None  # still pending: no final error
    assert smtp.inbox.messages == []
    smtp.inbox.delay = 0
    clock.now += 15
    await bot.svc.mailer.tick()
    assert await bot.svc.store.optin.mail_counts() == {"sent": 1}


async def test_header_injection_in_the_address(optin: Make, smtp: SmtpServer) -> None:
    bot = await optin()
    await bot.text(ADA, "/start")
    await bot.tap_label(ADA, WEAR)
    for attempt in (
        "ada@example.com\r\nBcc: victim@example.org",
        "ada@example.com\nSubject: spam",
        "Ada <ada@example.com>, victim@example.org",
    ):
        await bot.text(ADA, attempt)
        assert bot.last(ADA).text.startswith("Hmm, that doesn't look like an email address")
    await bot.svc.mailer.drain()
    assert smtp.inbox.messages == []
    with pytest.raises(ValueError, match="line break"):
        build_mail(MailContent("a@b.c", "x@y.z\r\nBcc: v@w.x", "Hi", "body"))


async def test_kpis_and_export_show_verification(optin: Make, smtp: SmtpServer) -> None:
    bot = await optin()
    await give_email(bot, ADA, "ada@example.com")
    await give_email(bot, BOB, "bob@example.com")
    await bot.text(ADA, smtp.inbox.code_for("ada@example.com"))
    counts = await bot.svc.store.kpis.counts(ALL_TIME)
    assert (counts.new_leads, counts.verified) == (2, 1)
    data_bytes, _ = await export_csv(bot.svc)
    header, *data = list(csv.reader(io.StringIO(data_bytes.decode("utf-8-sig"))))
    assert "email_verified" in header and "email_verified_at" in header
    flag = header.index("email_verified")
    assert sorted(row[flag] for row in data) == ["no", "yes"]
    await bot.text(OWNER, "/stats")
    stats = "\n".join(bot.texts(OWNER))
    assert "Verified leads" in stats and "50%" in stats


def test_typed_code_shapes() -> None:
    assert typed_code(" 123456 ") == "123456"
    assert typed_code("123 456") == "123456"
    assert typed_code("123-456") == "123456"
    assert typed_code("12345") is None
    assert typed_code("1234567") is None
    assert typed_code("code 123456") is None


async def test_replayed_update_issues_one_code(optin: Make, smtp: SmtpServer) -> None:
    bot = await optin()
    await give_email(bot)
    store = bot.svc.store
    code = smtp.inbox.code_for("ada@example.com")
    # The same update handled again after a crash (its id already issued a code): no new code.
    update_id = await _last_update_id(store)
    assert update_id is not None
    replayed = await store.optin.issue_code(
        ADA, "ada@example.com", "000000", magnet_id=None, language="en", ttl_seconds=60,
        update_id=update_id,
    )  # fmt: skip
    assert replayed is False
    await bot.svc.mailer.drain()
    assert len(smtp.inbox.messages) == 1
    await bot.text(ADA, code)
    assert "is verified" in bot.texts(ADA)[-2]


async def _last_update_id(store: Any) -> int | None:
    last = db.value(store, "SELECT MAX(update_id) FROM mails")
    return int(last) if last is not None else None


async def test_forget_erases_codes_and_mails(optin: Make, smtp: SmtpServer) -> None:
    smtp.stop()  # the mail is still in the outbox when the person leaves
    bot = await optin()
    await give_email(bot)
    await bot.text(ADA, "/mydata")
    assert "Email verified: -" in bot.last(ADA).text
    await bot.text(ADA, "/forget")
    await bot.tap_label(ADA, bot.t("btn_forget_yes"))
    store = bot.svc.store
    assert await store.optin.mail_counts() == {}
    assert await store.optin.pending_code(ADA) is None
    smtp.start()
    bot.clock.now += 3600
    await bot.svc.mailer.tick()
    assert smtp.inbox.messages == []


async def test_code_buttons_without_optin_or_forged(bot: Harness) -> None:
    await bot.text(ADA, "/start")
    for data in ("otp:new", "otp:chg"):
        await bot.tap(ADA, data)
        assert bot.fake.answered_callbacks[-1].text == bot.t("button_expired")
    await bot.tap(ADA, "otp:../../etc")
    assert bot.fake.answered_callbacks[-1].text == bot.t("button_expired")
    await bot.text(ADA, "123456")  # six digits without double opt-in: nothing special
    assert bot.last(ADA).text == bot.t("inbox_ack")


def make_ca() -> tuple[trustme.CA, ssl.SSLContext]:
    """A throwaway CA, and a server TLS context with a certificate it signed for 127.0.0.1."""
    ca = trustme.CA()
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_tls)
    return ca, server_tls


async def test_starttls_with_login(bot_with: Make) -> None:
    """The usual provider setup: port 587, STARTTLS with a checked certificate, then a login."""
    ca, server_tls = make_ca()
    logins: list[tuple[bytes, bytes]] = []

    def authenticator(*args: Any) -> AuthResult:
        auth = args[-1]
        assert isinstance(auth, LoginPassword)
        logins.append((auth.login, auth.password))
        return AuthResult(success=(auth.login, auth.password) == (b"aimant", b"pa55"))

    server = SmtpServer(
        tls_context=server_tls,
        require_starttls=True,
        auth_required=True,
        authenticator=authenticator,
    )
    server.start()
    try:
        bot = await bot_with(
            **server.settings(smtp_security="starttls", smtp_user="aimant", smtp_password="pa55")
        )
        client_tls = ssl.create_default_context()
        ca.configure_trust(client_tls)  # the test CA stands in for a public one
        bot.svc.mailer.tls = client_tls
        await give_email(bot)
        assert logins == [(b"aimant", b"pa55")]
        assert len(server.inbox.to("ada@example.com")) == 1
    finally:
        server.stop()


async def test_untrusted_certificate_is_not_used(bot_with: Make) -> None:
    """Without the test CA, the certificate check fails: the mail waits, nothing leaks, and
    owners are told it is the certificate (not that the server cannot be reached)."""
    _, server_tls = make_ca()  # the bot is not told about this CA
    server = SmtpServer(tls_context=server_tls, require_starttls=True)
    server.start()
    try:
        bot = await bot_with(**server.settings(smtp_security="starttls"))
        await give_email(bot)
        assert server.inbox.messages == []
        assert await bot.svc.store.optin.mail_counts() == {"pending": 1}
        notice = bot.texts(OWNER)[-1]
        assert "certificate is not trusted" in notice and "SMTP_CA_FILE" in notice
        assert "could not reach" not in notice
        problem = await smtp_problem(bot.svc.settings)
        assert problem is not None and "certificate is not trusted" in problem
    finally:
        server.stop()


@pytest.mark.parametrize("security", ["starttls", "tls"])
async def test_smtp_ca_file_trusts_a_private_ca(
    bot_with: Make, tmp_path: Path, security: str
) -> None:
    """SMTP_CA_FILE: the mail server's private CA is trusted, for mail only."""
    ca, server_tls = make_ca()
    ca_file = tmp_path / "private-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    # STARTTLS on 587-style servers; implicit TLS (465-style) from the first byte.
    tls = {"ssl_context": server_tls} if security == "tls" else {"require_starttls": True}
    server = SmtpServer(tls_context=server_tls, **tls)
    server.start()
    try:
        untrusted = await bot_with(**server.settings(smtp_security=security))
        assert "certificate is not trusted" in (await smtp_problem(untrusted.svc.settings) or "")
        await stop_harness(untrusted)
        bot = await bot_with(**server.settings(smtp_security=security, smtp_ca_file=ca_file))
        assert await smtp_problem(bot.svc.settings) is None
        await give_email(bot)
        assert len(server.inbox.to("ada@example.com")) == 1
        assert bot.svc.settings.smtp_ca_file == ca_file
    finally:
        server.stop()


def test_smtp_ca_file_must_hold_certificates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env here
    (tmp_path / "not-a-ca.pem").write_text("hello")
    for value in ("missing.pem", "not-a-ca.pem"):
        monkeypatch.setenv("SMTP_CA_FILE", value)
        with pytest.raises(SettingsError, match="SMTP_CA_FILE: cannot load CA certificates"):
            load_settings()
    monkeypatch.setenv("SMTP_CA_FILE", "")
    assert load_settings().smtp_ca_file is None


async def test_forget_does_not_reset_the_daily_limit(optin: Make, smtp: SmtpServer) -> None:
    """Someone typing a stranger's address cannot flood it by erasing themselves in between."""
    bot = await optin(optin_resend_seconds=0)
    for round_ in range(3):
        await give_email(bot, email="victim@example.org")
        for _ in range(4):
            await bot.tap(ADA, "otp:new")
            await bot.svc.mailer.drain()  # each mail leaves before the next tap
        await bot.text(ADA, "/forget")
        await bot.tap_label(ADA, bot.t("btn_forget_yes"))
        del round_
    assert len(smtp.inbox.to("victim@example.org")) == 10  # MAX_CODES_PER_DAY, per address
    bot.clock.now += 86401  # a day later the address may get codes again
    await give_email(bot, email="victim@example.org")
    assert len(smtp.inbox.to("victim@example.org")) == 11


async def test_six_digits_are_a_code_only_while_one_waits(optin: Make, smtp: SmtpServer) -> None:
    """A lead answering an owner "150 000" or a postcode is relayed, not eaten as a code."""
    bot = await optin()
    await give_email(bot)
    await bot.text(ADA, smtp.inbox.code_for("ada@example.com"))
    await bot.tap_label(ADA, "Family or kids")
    await bot.text(ADA, "/contact")
    await bot.text(ADA, "Call me please")
    card = next(s for s in reversed(bot.chat(OWNER)) if "Call me please" in s.text)
    reply = bot.fake.build_message(OWNER, "What's your budget?")
    reply["message"]["reply_to_message"] = {
        "message_id": card.message_id,
        "date": 1,
        "chat": {"id": OWNER, "type": "private"},
        "text": "card",
    }
    await bot.send(reply)
    await bot.text(ADA, "150 000")
    assert any("150 000" in text for text in bot.texts(OWNER))


async def test_change_email_after_stop_asks_to_opt_in_again(optin: Make, smtp: SmtpServer) -> None:
    bot = await optin()
    await give_email(bot)
    await bot.text(ADA, "/stop")
    await bot.tap_label(ADA, "✏️ Change email")
    assert bot.last(ADA).text.startswith("You asked us to stop messaging you.")
    lead = await bot.svc.store.leads.get(ADA)
    assert lead is not None and not lead.subscribed


async def test_change_email_prompt_shows_the_consent(optin: Make, smtp: SmtpServer) -> None:
    bot = await optin()
    await give_email(bot)
    await bot.tap_label(ADA, "✏️ Change email")
    assert "/stop at any time" in bot.last(ADA).text


async def test_codes_never_outlive_their_mail_retries(
    optin: Make, smtp: SmtpServer, clock: Clock
) -> None:
    """With the code valid 30 minutes and retries allowed 60, retries stop at 30: no mail ever
    carries an expired code, and asking for the guide again sends a fresh one."""
    smtp.stop()
    bot = await optin(optin_code_minutes=30, optin_mail_retry_minutes=60)
    await give_email(bot)
    for _ in range(8):
        clock.now += 300
        await bot.svc.mailer.tick()
    assert await bot.svc.store.optin.mail_counts() == {"failed": 1}
    assert bot.last(ADA).text.startswith("⚠️ I couldn't send the code")
    smtp.start()
    await bot.text(ADA, "/start what-to-wear")
    await bot.svc.mailer.drain()
    assert "6-digit code" in bot.last(ADA).text and len(smtp.inbox.messages) == 1
    await bot.text(ADA, smtp.inbox.code_for("ada@example.com"))
    assert "is verified" in bot.texts(ADA)[-2]


async def test_server_without_utf8_refuses_for_good(bot_with: Make) -> None:
    server = SmtpServer(enable_SMTPUTF8=False)
    server.start()
    try:
        bot = await bot_with(**server.settings())
        await give_email(bot, email="josé@example.com")
        assert bot.last(ADA).text.startswith("⚠️ The mail server refused")
        assert await bot.svc.store.optin.mail_counts() == {"refused": 1}
    finally:
        server.stop()


async def test_optin_switched_off_frees_people_waiting_for_a_code(
    optin: Make, bot_with: Make, smtp: SmtpServer
) -> None:
    bot = await optin()
    await give_email(bot)
    await stop_harness(bot)
    plain = await bot_with()  # restarted without SMTP_HOST
    await plain.text(ADA, "anything")
    assert plain.last(ADA).text == "What kind of shoot are you planning?"


def test_codes_in_other_scripts() -> None:
    assert typed_code("١٢٣٤٥٦") == "123456"  # Arabic-Indic digits
    assert typed_code("１２３ ４５６") == "123456"  # full-width


async def test_no_mail_leaves_after_its_code_died(
    optin: Make, smtp: SmtpServer, clock: Clock
) -> None:
    """Retries are never scheduled past the code's life, and a bot that was down for hours
    does not send the stale mail at its first tick."""
    smtp.stop()
    bot = await optin(optin_code_minutes=30, optin_mail_retry_minutes=60)
    await give_email(bot)
    for _ in range(5):  # 25 minutes of a server that does not answer
        clock.now += 300
        await bot.svc.mailer.tick()
    smtp.start()
    clock.now += 240  # back at minute 29, but the mail was given up rather than retried at 35
    await bot.svc.mailer.tick()
    assert smtp.inbox.messages == []
    assert await bot.svc.store.optin.mail_counts() == {"failed": 1}
    assert bot.last(ADA).text.startswith("⚠️ I couldn't send the code")


async def test_a_bot_down_for_hours_does_not_send_dead_codes(
    optin: Make, smtp: SmtpServer, clock: Clock
) -> None:
    bot = await optin()
    bot.svc.mailer._stopped = True  # the process "dies" before the mail leaves
    await give_email(bot)
    bot.svc.mailer._stopped = False
    clock.now += 3 * 3600
    await bot.svc.mailer.tick()
    assert smtp.inbox.messages == []
    assert (
        await bot.svc.store.optin.mail_error(ADA) == "the code expired before the mail could leave"
    )


async def test_six_digits_after_the_code_died_are_a_message(
    optin: Make, smtp: SmtpServer, clock: Clock
) -> None:
    bot = await optin(optin_pdf_waits=False)
    await give_email(bot)
    await bot.tap_label(ADA, "Family or kids")
    clock.now += 40 * 86400
    await bot.text(ADA, "150 000")
    assert bot.last(ADA).text == bot.t("inbox_ack")


async def test_a_refused_address_is_not_mailed_again(optin: Make, smtp: SmtpServer) -> None:
    smtp.inbox.refuse.add("nobody@example.com")
    bot = await optin(optin_resend_seconds=0)
    await give_email(bot, email="nobody@example.com")
    await bot.svc.mailer.drain()
    first_prompt = next(s for s in bot.chat(ADA) if "6-digit code" in s.text)
    await bot.tap(ADA, "otp:new", message_id=first_prompt.message_id)
    await bot.text(ADA, "/start what-to-wear")
    await bot.svc.mailer.drain()
    assert await bot.svc.store.optin.mail_counts() == {"refused": 1}  # tried once, never again
    last = bot.last(ADA)
    assert last.text.startswith("⚠️ The mail server refused nobody@example.com")
    assert "nobody@example.com" not in "".join(bot.texts(OWNER))  # owners: no address echoed
    assert [row[0][0] for row in last.buttons] == ["✏️ Change email"]


async def test_plus_tags_and_dots_are_one_mailbox(optin: Make, smtp: SmtpServer) -> None:
    bot = await optin(optin_resend_seconds=0)
    for n, address in enumerate(["vic.tim+1@gmail.com", "victim+2@gmail.com", "VICTIM@gmail.com"]):
        await give_email(bot, ADA + n, address)
        for _ in range(5):
            await bot.tap(ADA + n, "otp:new")
            await bot.svc.mailer.drain()
    assert len(smtp.inbox.messages) == 10


async def test_mails_that_never_left_do_not_count(optin: Make, smtp: SmtpServer) -> None:
    smtp.stop()
    bot = await optin(optin_resend_seconds=0)
    await give_email(bot)
    for _ in range(12):
        await bot.tap(ADA, "otp:new")
        await bot.svc.mailer.drain()
    assert bot.last(ADA).text.startswith("📧 A new code is on its way")


async def test_new_code_after_stop_asks_to_opt_in_again(optin: Make, smtp: SmtpServer) -> None:
    bot = await optin()
    await give_email(bot)
    await bot.text(ADA, "/stop")
    bot.clock.now += 120
    await bot.tap(ADA, "otp:new")
    assert bot.last(ADA).text.startswith("You asked us to stop messaging you.")
    await bot.svc.mailer.drain()
    assert len(smtp.inbox.messages) == 1


async def test_sticker_at_the_code_step_after_optin_is_off(
    optin: Make, bot_with: Make, smtp: SmtpServer
) -> None:
    bot = await optin()
    await give_email(bot)
    await stop_harness(bot)
    plain = await bot_with()
    await plain.send(plain.fake.build_sticker(ADA))
    assert plain.last(ADA).text == plain.t("inbox_ack")  # no code expected: for the team


def test_long_text_starting_with_digits_is_no_code() -> None:
    assert typed_code("123456" + " " * 34 + "x" * 5000) is None
    assert typed_code("123456" + " " * 30) is None


async def test_change_email_after_verification(optin: Make, smtp: SmtpServer) -> None:
    bot = await optin()
    await give_email(bot)
    await bot.text(ADA, smtp.inbox.code_for("ada@example.com"))
    await bot.tap_label(ADA, "Family or kids")
    await bot.tap_label(ADA, "✏️ Change email")  # on the old code message
    assert bot.last(ADA).text.startswith("OK: type the email address")
    await bot.text(ADA, "ada@example.org")
    await bot.svc.mailer.drain()
    assert "6-digit code to ada@example.org" in bot.last(ADA).text
    await bot.text(ADA, smtp.inbox.code_for("ada@example.org"))
    assert "ada@example.org is verified" in bot.last(ADA).text
    assert sum(1 for s in bot.chat(ADA) if s.document) == 1  # the guide is not sent again


async def test_the_code_after_cancel_still_brings_the_guide(optin: Make, smtp: SmtpServer) -> None:
    bot = await optin()
    await give_email(bot)
    await bot.text(ADA, "/cancel")
    await bot.text(ADA, smtp.inbox.code_for("ada@example.com"))
    assert bot.last(ADA).text == "What kind of shoot are you planning?"


async def test_the_code_while_asked_for_a_new_address(optin: Make, smtp: SmtpServer) -> None:
    """They tapped Change email, then the mail arrived: its code verifies the first address."""
    bot = await optin()
    await give_email(bot)
    await bot.tap_label(ADA, "✏️ Change email")
    await bot.text(ADA, "Your confirmation code: " + smtp.inbox.code_for("ada@example.com"))
    assert bot.last(ADA).text.startswith("Hmm, that doesn't look like an email")  # not a code
    await bot.text(ADA, smtp.inbox.code_for("ada@example.com"))
    assert "ada@example.com is verified" in bot.texts(ADA)[-2]
    assert bot.last(ADA).text == "What kind of shoot are you planning?"


async def test_a_pasted_line_with_the_code(optin: Make, smtp: SmtpServer) -> None:
    bot = await optin()
    await give_email(bot)
    code = smtp.inbox.code_for("ada@example.com")
    await bot.text(ADA, f"Your confirmation code: {code}.")
    assert "is verified" in bot.texts(ADA)[-2]


async def test_a_sticker_at_the_code_step_gets_the_buttons(optin: Make, smtp: SmtpServer) -> None:
    bot = await optin()
    await give_email(bot)
    await bot.send(bot.fake.build_sticker(ADA))
    reply = bot.last(ADA)
    assert reply.text.startswith("I'm waiting for the 6-digit code")
    assert [row[0][0] for row in reply.buttons] == ["📧 Send a new code", "✏️ Change email"]


async def test_the_same_address_again_keeps_the_code_on_its_way(
    optin: Make, smtp: SmtpServer
) -> None:
    bot = await optin(optin_resend_seconds=60)
    await give_email(bot)
    first = smtp.inbox.code_for("ada@example.com")
    await bot.text(ADA, "ada@example.com")  # impatient: typed again
    await bot.svc.mailer.drain()
    assert bot.last(ADA).text.startswith("Please type the 6-digit code I emailed")
    assert len(smtp.inbox.messages) == 1
    await bot.text(ADA, first)
    assert "is verified" in bot.texts(ADA)[-2]


async def test_owners_see_unverified_addresses(optin: Make, smtp: SmtpServer) -> None:
    bot = await optin()
    await give_email(bot)
    await bot.text(ADA, "/cancel")
    await bot.text(ADA, "/plan")
    assert any("ada@example.com (not verified yet)" in t for t in bot.texts(OWNER))
