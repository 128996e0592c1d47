"""Ready to talk: plan and contact requests reach every owner at once, with what they need."""

from __future__ import annotations

import pytest
from telegram import Update

from bot.store import Event
from tests.conftest import OWNER, Harness, member_change

pytestmark = pytest.mark.usefixtures("backend")  # every test on SQLite and PostgreSQL


ADA = 1001
DAY = 86400


async def lead_with_tips(bot: Harness, user: int = ADA) -> None:
    await bot.text(user, "/start instagram", username="ada_l", last_name="Lovelace")
    await bot.tap(user, "mag:what-to-wear")
    await bot.text(user, "ada@example.com")
    await bot.tap(user, "ans:what-to-wear:family")
    for _ in range(4):
        bot.clock.now += 30 * DAY
        await bot.svc.nurture.tick()


async def test_cta_button_flags_hot_and_alerts_owners(bot: Harness) -> None:
    await lead_with_tips(bot)
    await bot.tap_label(ADA, "Get my personalised plan")
    ask = bot.last(ADA)
    assert ask.text == bot.t("plan_ask_goal")
    card = bot.last(OWNER)
    for expected in (
        "Ready to talk: asked for a personalised plan",
        "\u2068Ada Lovelace\u2069 \u2068@ada_l\u2069",  # isolated: names cannot reorder it
        "Email: ada@example.com",
        "What to wear for your photo shoot — Family or kids ✓",
        "Source: instagram",
        "Score: 75 = email +10, fit answer +20, tip click +5, plan requested +40",
        "Why: tapped “Get my personalised plan” under the tip “Shall we plan your outfits"
        " together?” (What to wear for your photo shoot)",
        "Stage: ready to talk",
    ):
        assert expected in card.text, expected
    assert 'href="tg://user?id=1001"' in card.html
    assert [b[0] for b in card.buttons[0]] == ["✅ Contacted", "🏆 Won"]
    lead = await bot.svc.store.leads.get(ADA)
    assert lead is not None and lead.stage.value == "hot"
    await bot.text(ADA, "Photos for our wedding in June <3")
    assert bot.last(ADA).text == bot.t("plan_confirmed")
    goal = bot.last(OWNER)
    assert goal.text.startswith("🎯 Goal from \u2068Ada\u2069")
    assert "Photos for our wedding in June <3" in goal.text
    # A second request (button again, /plan, a phrase) does not count twice.
    await bot.tap_label(ADA, "Get my personalised plan")
    await bot.text(ADA, "/plan")
    await bot.text(ADA, "can I have a custom plan?")
    assert bot.texts(ADA)[-3:] == [bot.t("plan_again")] * 3
    assert await bot.svc.store.count_events(Event.PLAN) == 1
    assert await bot.svc.store.count_events(Event.TIP_CLICK) == 1
    assert len([s for s in bot.chat(OWNER) if "Ready to talk" in s.text]) == 1


async def test_plan_by_command_or_in_own_words(bot: Harness) -> None:
    await bot.text(2001, "/start")
    await bot.text(2001, "/plan")
    assert bot.last(2001).text == bot.t("plan_ask_goal")
    await bot.tap_label(2001, "Skip")
    assert bot.last(2001).text == bot.t("plan_confirmed")
    await bot.text(2002, "/start", language_code="fr")
    await bot.text(2002, "Bonjour, je voudrais un Plan Personnalisé", language_code="fr")
    assert bot.last(2002).text == bot.t("plan_ask_goal", "fr")
    assert "Why: wrote “plan personnalisé”" in bot.last(OWNER).text
    assert await bot.svc.store.count_events(Event.PLAN) == 2


async def test_double_tap_on_cta_counts_once(bot: Harness) -> None:
    await lead_with_tips(bot)
    tip = bot.chat(ADA)[-1]
    data = tip.buttons[0][0][1]
    await bot.tap(ADA, data, message_id=tip.message_id)
    await bot.tap(ADA, data, message_id=tip.message_id)
    assert await bot.svc.store.count_events(Event.PLAN) == 1
    assert await bot.svc.store.count_events(Event.TIP_CLICK) == 1


async def test_forged_plan_callbacks(bot: Harness) -> None:
    await bot.text(ADA, "/start")
    for data in ("pln:what-to-wear:plan", "pln:nope:plan", "pln:", "pln:what-to-wear:x:y"):
        await bot.tap(ADA, data)
        assert bot.fake.answered_callbacks[-1].text == bot.t("button_expired")
    assert await bot.svc.store.count_events(Event.PLAN) == 0
    assert bot.chat(OWNER) == []


async def test_cta_after_the_person_erased_their_data(bot: Harness) -> None:
    await lead_with_tips(bot)
    tip = bot.chat(ADA)[-1]
    await bot.text(ADA, "/forget")
    await bot.tap_label(ADA, "Yes, erase my data")
    await bot.tap(ADA, "pln:what-to-wear:plan", message_id=tip.message_id)
    assert bot.fake.answered_callbacks[-1].text == bot.t("button_expired")
    assert bot.chat(OWNER) == []


async def test_contact_form_with_html_and_4000_characters(bot: Harness) -> None:
    await bot.text(ADA, "/start")
    await bot.text(ADA, "/contact")
    assert bot.last(ADA).text == bot.t("contact_ask")
    await bot.send(bot.fake.build_sticker(ADA))
    assert bot.last(ADA).text == bot.t("expect_contact")
    message = "<b>Hi</b> & <script>alert(1)</script> " + "x" * 3960
    await bot.text(ADA, message)
    assert bot.last(ADA).text == bot.t("contact_sent")
    card = bot.last(OWNER)
    assert "Ready to talk: sent a message" in card.text
    assert "<b>Hi</b> & <script>alert(1)</script>" in card.text  # shown as typed, not as HTML
    assert "Why: wrote to us (/contact)" in card.text
    assert await bot.svc.store.ready.messages(ADA) == [("contact", message, int(bot.clock.now))]
    await bot.text(ADA, "/contact and one more thing")
    assert await bot.svc.store.count_events(Event.CONTACT) == 2  # messages; KPIs count people


async def test_an_owner_who_blocked_the_bot_does_not_stop_the_others(
    bot_with,
    fake,  # type: ignore[no-untyped-def]
) -> None:
    bot = await bot_with(owner_ids=[OWNER, OWNER + 1])
    fake.add_user(OWNER + 1, first_name="Second owner")
    fake.block(OWNER)
    await bot.text(ADA, "/start")
    await bot.text(ADA, "/plan")
    assert bot.last(ADA).text == bot.t("plan_ask_goal")
    assert "Ready to talk" in bot.last(OWNER + 1).text


async def test_owner_replies_and_the_lead_answers_back(bot: Harness) -> None:
    await lead_with_tips(bot)
    await bot.text(ADA, "/plan")
    alert = bot.last(OWNER)
    reply = bot.fake.build_message(OWNER, "Hello Ada, <free> on Tuesday?", first_name="Owner")
    reply["message"]["reply_to_message"] = alert.message
    await bot.send(reply)
    # Copied as it is; the owner sees it arrived as a reaction on their message.
    assert bot.last(ADA).method == "copyMessage"
    assert bot.last(ADA).text == "Hello Ada, <free> on Tuesday?"
    assert bot.fake.reactions[(OWNER, reply["message"]["message_id"])] == ["👍"]
    await bot.text(ADA, "Tuesday is perfect!")
    assert bot.last(ADA).text == bot.t("inbox_ack")
    header, relayed = bot.chat(OWNER)[-2:]
    assert header.text == "💬 \u2068Ada Lovelace\u2069 \u2068@ada_l\u2069 (reply to answer):"
    assert relayed.method == "copyMessage" and relayed.text == "Tuesday is perfect!"
    second = bot.fake.build_message(OWNER, "See you then", first_name="Owner")
    second["message"]["reply_to_message"] = relayed.message
    await bot.send(second)
    assert bot.last(ADA).text == "See you then"
    await bot.text(OWNER, "/help")
    stray = bot.fake.build_message(OWNER, "hm", first_name="Owner")
    stray["message"]["reply_to_message"] = bot.chat(OWNER)[-1].message
    await bot.send(stray)
    assert bot.last(OWNER).text == bot.t("relay_not_lead")


async def test_owner_marks_contacted_then_won(bot: Harness) -> None:
    await lead_with_tips(bot)
    await bot.text(ADA, "/plan")
    card = bot.last(OWNER)
    await bot.tap(OWNER, "own:c:1001", message_id=card.message_id)
    assert "Stage: ready to talk, contacted" in bot.last(OWNER).text
    await bot.tap(OWNER, "own:w:1001", message_id=card.message_id)
    await bot.tap(OWNER, "own:w:1001", message_id=card.message_id)  # double tap
    lead = await bot.svc.store.leads.get(ADA)
    assert lead is not None and lead.stage.value == "customer"
    assert await bot.svc.store.count_events(Event.WON) == 1
    assert "Stage: customer, contacted" in card.text and "won" in card.text


async def test_owner_buttons_are_unknown_to_everyone_else(bot: Harness) -> None:
    await lead_with_tips(bot)
    await bot.text(ADA, "/plan")
    for data in ("own:w:1001", "own:c:1001", "own:x:1", "own:w:abc"):
        await bot.tap(ADA, data)
        assert bot.fake.answered_callbacks[-1].text == bot.t("button_expired")
    lead = await bot.svc.store.leads.get(ADA)
    assert lead is not None and lead.won_at is None and lead.contacted_at is None


async def test_forget_also_redacts_what_owners_were_shown(bot: Harness) -> None:
    await lead_with_tips(bot)
    await bot.text(ADA, "/contact my phone is 0612345678")
    alert = bot.last(OWNER)
    assert "0612345678" in alert.text
    await bot.text(ADA, "/forget")
    await bot.tap_label(ADA, "Yes, erase my data")
    assert alert.text == bot.t("card_erased")
    assert all(
        "0612345678" not in s.text and "ada@example.com" not in s.text for s in bot.chat(OWNER)
    )


async def test_replayed_plan_and_contact_updates_apply_once(bot: Harness) -> None:
    await bot.text(ADA, "/start")
    plan = bot.fake.build_message(ADA, "/plan")
    await bot.send(plan)
    # The process died after recording the request: the same update is handled again.
    await bot.app.process_update(Update.de_json(plan, bot.app.bot))
    assert [s.text for s in bot.chat(OWNER)].count(bot.last(OWNER).text) == 2  # alerted again
    assert await bot.svc.store.count_events(Event.PLAN) == 1
    contact = bot.fake.build_message(ADA, "/contact hello there")
    await bot.send(contact)
    await bot.app.process_update(Update.de_json(contact, bot.app.bot))
    assert [k for k, _, _ in await bot.svc.store.ready.messages(ADA)] == ["contact"]


async def test_owner_cannot_write_to_a_lead_who_left(bot: Harness) -> None:
    await lead_with_tips(bot)
    await bot.text(ADA, "/plan")
    alert = bot.last(OWNER)
    await bot.text(ADA, "/stop")
    before = len(bot.chat(ADA))
    reply = bot.fake.build_message(OWNER, "Still there?", first_name="Owner")
    reply["message"]["reply_to_message"] = alert.message
    await bot.send(reply)
    assert bot.last(OWNER).text == "Not sent: \u2068Ada\u2069 has unsubscribed or blocked the bot."
    assert len(bot.chat(ADA)) == before


async def test_a_lead_writing_to_an_owner_who_blocked_the_bot(bot: Harness) -> None:
    await lead_with_tips(bot)
    await bot.text(ADA, "/plan")
    await bot.tap_label(ADA, "Skip")
    reply = bot.fake.build_message(OWNER, "Hi!", first_name="Owner")
    reply["message"]["reply_to_message"] = bot.last(OWNER).message
    await bot.send(reply)
    bot.fake.block(OWNER)
    await bot.text(ADA, "Thanks, talk soon")
    assert bot.last(ADA).text == bot.t("inbox_ack")
    # Not lost silently: the conversation waits in /inbox for an owner who can read it.
    assert [w.person for w in await bot.svc.store.team.waiting()] == [ADA]


async def test_group_membership_changes_say_nothing_about_the_person(bot: Harness) -> None:
    await lead_with_tips(bot)
    change = member_change(
        9300, ADA, {"id": -100777, "type": "supergroup", "title": "Fans"}, "kicked"
    )
    await bot.send(change)
    lead = await bot.svc.store.leads.get(ADA)
    assert lead is not None and lead.blocked_at is None


async def test_mydata_shows_everything_over_several_messages(bot: Harness) -> None:
    await lead_with_tips(bot)
    first, second = "a" * 3000 + " first", "b" * 3000 + " second"
    await bot.text(ADA, f"/contact {first}")
    await bot.text(ADA, f"/contact {second}")
    before = len(bot.chat(ADA))
    await bot.text(ADA, "/mydata")
    shown = "\n".join(s.text for s in bot.chat(ADA)[before:])
    assert len(bot.chat(ADA)) - before >= 2
    for expected in (
        first,
        second,
        "Tips received: 4",
        "Asked to talk",
        "“Family or kids” (a fit for us)",
    ):
        assert expected in shown, expected


async def test_a_card_with_a_long_message_and_many_guides_fits(bot: Harness) -> None:
    await lead_with_tips(bot)
    for magnet, answer in (("gardening-basics", "garden"), ("training-plan", "strength")):
        await bot.tap(ADA, f"mag:{magnet}")
        await bot.tap(ADA, f"ans:{magnet}:{answer}")
    await bot.text(ADA, "/contact " + "<&>" * 1300)
    card = bot.last(OWNER)
    assert len(card.text) <= 4096 and "<&><&>" in card.text


async def test_forget_leaves_no_personal_bytes_in_the_database_files(
    tmp_path,
    fake,
    clock,  # type: ignore[no-untyped-def]
) -> None:
    import sqlite3

    from tests.conftest import make_settings, start_harness, stop_harness

    bot = await start_harness(make_settings(tmp_path), fake, clock)
    secrets = ("Zenobia", "Quartermaine", "zq_handle", "zenobia.q@example.org", "my secret plan")
    await bot.text(
        ADA, "/start flyer", first_name="Zenobia", last_name="Quartermaine", username="zq_handle"
    )
    await bot.tap(ADA, "mag:what-to-wear")
    await bot.text(ADA, "zenobia.q@example.org")
    await bot.tap(ADA, "ans:what-to-wear:family")
    await bot.text(ADA, "/contact my secret plan")
    await bot.text(OWNER, "/broadcast Hello")
    await bot.tap(OWNER, "bc:s:1:0")
    await bot.tap(OWNER, "bc:go:1:0")
    await bot.svc.broadcaster.wait(1)
    await bot.text(ADA, "/forget")
    await bot.tap(ADA, "fgt:yes")
    await stop_harness(bot)
    path = tmp_path / "aimant.sqlite3"
    with sqlite3.connect(path) as raw:
        raw.execute("VACUUM")
    data = b"".join(p.read_bytes() for p in tmp_path.glob("aimant.sqlite3*"))
    for secret in secrets:
        assert secret.encode() not in data, secret
    assert not bot.errors and not fake.violations


async def test_a_negated_phrase_is_not_a_request(bot: Harness) -> None:
    await bot.text(ADA, "/start")
    await bot.text(ADA, "No need to call me, I just want the guide")
    assert bot.last(ADA).text == bot.t("inbox_ack")  # a message for the team, not a request
    await bot.text(2002, "/start", language_code="fr")
    await bot.text(2002, "Pas besoin de rendez-vous, merci", language_code="fr")
    assert bot.last(2002).text == bot.t("inbox_ack", "fr")
    assert [s.method for s in bot.chat(OWNER)] == ["sendMessage", "copyMessage"] * 2  # no alert
    assert await bot.svc.store.count_events(Event.PLAN) == 0
    assert await bot.svc.store.count_events(Event.CONTACT) == 0


async def test_an_appointment_asked_in_own_words_is_a_contact_request(bot: Harness) -> None:
    await bot.text(2002, "/start", language_code="fr")
    await bot.text(2002, "Je voudrais prendre rendez-vous svp", language_code="fr")
    assert bot.last(2002).text == bot.t("contact_sent", "fr")  # not the plan question
    card = bot.last(OWNER)
    assert "Ready to talk: sent a message" in card.text
    assert "Why: wrote “rendez-vous”" in card.text
    assert "Je voudrais prendre rendez-vous svp" in card.text  # the message itself
    await bot.text(ADA, "/start")
    await bot.text(ADA, "I'd like to book an appointment")
    assert bot.last(ADA).text == bot.t("contact_sent")
    assert "I'd like to book an appointment" in bot.last(OWNER).text
    assert await bot.svc.store.count_events(Event.PLAN) == 0
    assert await bot.svc.store.count_events(Event.CONTACT) == 2
    assert [m[:2] for m in await bot.svc.store.ready.messages(ADA)] == [
        ("contact", "I'd like to book an appointment")
    ]


async def test_the_first_reason_to_talk_is_kept(bot: Harness) -> None:
    await bot.text(ADA, "/start")
    await bot.text(ADA, "/plan")
    await bot.tap_label(ADA, "Skip")
    await bot.text(ADA, "/contact one more thing")
    assert "Why: asked for a personalised plan (/plan)" in bot.last(OWNER).text
    await bot.text(ADA, "/mydata")
    assert "Asked to talk: " in bot.last(ADA).text
    assert "(asked for a personalised plan (/plan))" in bot.last(ADA).text
