"""Bad input gets a clear, friendly answer, loses nothing, and never crashes a handler."""

from __future__ import annotations

import pytest

from bot.store import Event
from bot.telegram.html import plain_text as plain
from tests.conftest import Harness, member_change

pytestmark = pytest.mark.usefixtures("backend")  # every test on SQLite and PostgreSQL


ADA = 1001
WEAR = "What to wear for your photo shoot"


async def ask_for_email(bot: Harness, user: int = ADA) -> None:
    await bot.text(user, "/start")
    await bot.tap_label(user, WEAR)


@pytest.mark.parametrize("typed", ["not an email", "ada@", "@example.com", "ada@@example.com"])
async def test_invalid_email_is_asked_again(bot: Harness, typed: str) -> None:
    await ask_for_email(bot)
    await bot.text(ADA, typed)
    assert bot.last(ADA).text.startswith("Hmm, that doesn't look like an email address")
    assert (await bot.svc.store.leads.get(ADA)).email is None  # type: ignore[union-attr]
    await bot.text(ADA, "ada@example.com")  # still in the step: the right one works
    assert bot.texts(ADA)[-2] == "Thanks! Your email is saved: ada@example.com"


@pytest.mark.parametrize(
    ("lang", "typed", "reason"),
    [
        ("en", "ada lovelace@example.com", "an address has no spaces"),
        ("en", "ada.example.com", "an address has exactly one @"),
        ("fr", "ada lovelace@example.com", "une adresse ne contient pas d'espace"),
        ("fr", "ada@example", "la partie après le @ doit ressembler à exemple.fr"),
    ],
)
async def test_invalid_email_is_explained_in_our_own_words(
    bot: Harness, lang: str, typed: str, reason: str
) -> None:
    await bot.text(ADA, "/start", language_code=lang)
    await bot.tap(ADA, "mag:what-to-wear")
    await bot.text(ADA, typed)
    shown = bot.last(ADA).text
    assert shown == plain(bot.t("email_invalid", lang, reason=reason))
    for library_words in ("@-sign", "SPACE", "It should have a period"):
        assert library_words not in shown


async def test_typo_gets_did_you_mean(bot: Harness) -> None:
    await ask_for_email(bot)
    await bot.text(ADA, "ada@gmial.com")
    offer = bot.last(ADA)
    assert offer.text == "Did you mean ada@gmail.com?"
    assert [row[0][0] for row in offer.buttons] == ["Yes, use this one", "No, keep what I typed"]
    await bot.tap_label(ADA, "Yes, use this one")
    assert (await bot.svc.store.leads.get(ADA)).email == "ada@gmail.com"  # type: ignore[union-attr]
    # A second tap on the old button does nothing more.
    await bot.tap(ADA, "eml:no", message_id=offer.message_id)
    assert (await bot.svc.store.leads.get(ADA)).email == "ada@gmail.com"  # type: ignore[union-attr]
    assert bot.fake.answered_callbacks[-1].text == bot.t("button_expired")


async def test_typo_can_be_kept_as_typed(bot: Harness) -> None:
    await ask_for_email(bot)
    await bot.text(ADA, "ada@gmial.com")
    await bot.tap_label(ADA, "No, keep what I typed")
    assert (await bot.svc.store.leads.get(ADA)).email == "ada@gmial.com"  # type: ignore[union-attr]


async def test_invalid_with_fixable_typo_offers_the_fix_only(bot: Harness) -> None:
    await ask_for_email(bot)
    await bot.text(ADA, "ada@gmailcom")
    assert [row[0][0] for row in bot.last(ADA).buttons] == ["Yes, use this one"]
    await bot.text(ADA, "ada@example.org")  # typing another address instead works too
    assert (await bot.svc.store.leads.get(ADA)).email == "ada@example.org"  # type: ignore[union-attr]


@pytest.mark.parametrize("kind", ["sticker", "photo"])
async def test_non_text_where_email_expected(bot: Harness, kind: str) -> None:
    await ask_for_email(bot)
    build = getattr(bot.fake, f"build_{kind}")
    await bot.send(build(ADA))
    assert bot.last(ADA).text == bot.t("expect_email")
    await bot.text(ADA, "ada@example.com")
    assert (await bot.svc.store.leads.get(ADA)).email == "ada@example.com"  # type: ignore[union-attr]


async def test_voice_and_sticker_outside_any_step(bot: Harness) -> None:
    await bot.send(bot.fake.build_sticker(ADA))
    assert bot.last(ADA).text == bot.t("inbox_ack")  # no step expects it: for the team
    assert bot.last(900001).message.get("sticker")  # the owner


async def test_text_where_answer_expected(bot: Harness) -> None:
    await ask_for_email(bot)
    await bot.text(ADA, "ada@example.com")
    await bot.text(ADA, "a wedding in June")
    assert bot.last(ADA).text == bot.t("expect_answer")
    await bot.send(bot.fake.build_sticker(ADA))
    assert bot.last(ADA).text == bot.t("expect_answer")


async def test_5000_character_message(bot: Harness) -> None:
    await ask_for_email(bot)
    await bot.text(ADA, "x" * 5000)
    reply = bot.last(ADA)
    assert reply.text.startswith("Hmm, that doesn't look like an email address")
    assert len(reply.text) < 600
    await bot.text(ADA, "<b>" * 1500)  # HTML in what they typed is never echoed raw
    assert bot.last(ADA).text.startswith("Hmm")


@pytest.mark.parametrize(
    "data",
    [
        "garbage",
        "mag:no-such-magnet",
        "ans:what-to-wear:wedding",  # another user's step: this one never asked for the magnet
        "ans:gardening-basics:wedding",  # another magnet's answer id
        "ans:what-to-wear",
        "ans:::",
        "eml:yes",
        "opt:what-to-wear",
        "fgt:maybe",
        "x" * 64,
    ],
)
async def test_forged_or_unknown_buttons(bot: Harness, data: str) -> None:
    await bot.text(ADA, "/start")
    before = len(bot.chat(ADA))
    await bot.tap(ADA, data)
    new = bot.chat(ADA)[before:]
    assert not any(s.document for s in new)
    lead = await bot.svc.store.leads.get(ADA)
    assert lead is not None and lead.email is None
    assert await bot.svc.store.count_events(Event.ANSWER) == 0
    if data.startswith("mag:"):
        assert new[-1].text == bot.t("magnet_unknown")
    elif not data.startswith(("opt:", "fgt:")):
        assert bot.fake.answered_callbacks[-1].text == bot.t("button_expired")


async def test_double_tap_on_an_answer_counts_once(bot: Harness) -> None:
    await ask_for_email(bot)
    await bot.text(ADA, "ada@example.com")
    question = bot.last(ADA)
    data = question.buttons[0][0][1]
    await bot.tap(ADA, data, message_id=question.message_id)
    await bot.tap(ADA, data, message_id=question.message_id)
    assert sum(1 for s in bot.chat(ADA) if s.document) == 1
    assert await bot.svc.store.count_events(Event.ANSWER) == 1
    assert bot.fake.answered_callbacks[-1].text == "Already noted: Wedding or engagement"


@pytest.mark.parametrize("payload", ["bad!chars", "x" * 65, "é", "a b"])
async def test_bad_payload_still_welcomes(bot: Harness, payload: str) -> None:
    await bot.text(ADA, f"/start {payload}")
    assert bot.last(ADA).text.startswith("Hello Ada!")
    lead = await bot.svc.store.leads.get(ADA)
    assert lead is not None and lead.first_source is None


async def test_unknown_command_and_owner_commands_for_prospects(bot: Harness) -> None:
    for command in ("/frobnicate", "/stats", "/export"):
        await bot.text(ADA, command)
        assert bot.last(ADA).text == bot.t("unknown_command")


async def test_updates_outside_private_chats_are_ignored(bot: Harness) -> None:
    group = bot.fake.build_message(ADA, "/start")
    group["message"]["chat"] = {"id": -100123, "type": "supergroup", "title": "Fans"}
    await bot.send(group)
    channel = {
        "update_id": 9001,
        "channel_post": {
            "message_id": 1,
            "date": 1,
            "chat": {"id": -100999, "type": "channel", "title": "News"},
            "text": "/start",
        },
    }
    await bot.send(channel)
    edited = bot.fake.build_message(ADA, "/start")
    edited["edited_message"] = edited.pop("message")
    edited["edited_message"]["edit_date"] = 2
    await bot.send(edited)
    await bot.send({"update_id": 9002, "some_future_update": {"x": 1}})
    assert bot.chat(ADA) == []
    assert await bot.svc.store.leads.get(ADA) is None


async def test_blocking_the_bot_is_recorded(bot: Harness) -> None:
    await bot.text(ADA, "/start")
    change = member_change(9100, ADA, {"id": ADA, "type": "private", "first_name": "Ada"}, "kicked")
    await bot.send(change)
    lead = await bot.svc.store.leads.get(ADA)
    assert lead is not None and lead.blocked_at is not None and lead.stage.value == "gone"
    assert await bot.svc.store.count_events(Event.BLOCKED) == 1


async def test_user_who_blocked_the_bot_during_delivery(bot: Harness) -> None:
    await ask_for_email(bot)
    await bot.text(ADA, "ada@example.com")
    bot.fake.block(ADA)
    await bot.tap(ADA, "ans:what-to-wear:family")
    lead = await bot.svc.store.leads.get(ADA)
    assert lead is not None and lead.blocked_at is not None
    assert lead.email == "ada@example.com"  # nothing already stored is lost
    bot.fake.violations.clear()  # 403s are Telegram's answer, not a bot mistake


async def test_blocking_between_a_message_and_the_answer(bot: Harness) -> None:
    await bot.text(ADA, "/start")
    bot.fake.block(ADA)  # the person blocks the bot right after writing
    await bot.text(ADA, "/magnets")
    assert [type(e).__name__ for e in bot.errors] == ["Forbidden"]  # Telegram's answer...
    bot.errors.clear()
    lead = await bot.svc.store.leads.get(ADA)
    assert lead is not None and lead.blocked_at is not None  # ...handled: marked blocked


async def test_a_button_tapped_on_a_message_without_buttons(bot: Harness) -> None:
    await bot.text(ADA, "/start flyer__what-to-wear")  # the last message has no buttons
    for data in ("opt:", "opt:no", "fgt:no"):
        await bot.tap(ADA, data)
    assert not bot.fake.violations  # no pointless edit that Telegram would refuse
