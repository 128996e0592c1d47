"""Figures owners can trust; erasure and strangers' buttons hold (issue 13)."""

from __future__ import annotations

import csv
import io
import json
import logging
import re

import pytest
from telegram.ext import CallbackQueryHandler

from bot.owner.alerts import notify_owners
from bot.owner.periods import ALL_TIME, month
from bot.store import Event
from tests import db
from tests.conftest import OWNER, Harness

pytestmark = pytest.mark.usefixtures("backend")  # every test on SQLite and PostgreSQL


ADA = 101
HUGE = "9" * 25
OVER = str(2**63)  # one past SQLite's largest integer
# Forged or odd data for every prefix bot/app.py registers (numbers SQLite cannot hold, digits
# of other scripts, missing and extra fields).
FORGED = [
    f"mag:{HUGE}",
    f"ans:{HUGE}:{HUGE}",
    "eml:maybe",
    f"opt:{HUGE}",
    f"otp:{HUGE}",
    f"fgt:{HUGE}",
    f"pln:{HUGE}:{HUGE}",
    f"stp:{HUGE}",
    f"stp:{OVER}",
    "stp:١",
    "stp:-1",
    f"gol:{HUGE}",
    f"own:w:{HUGE}",
    f"own:c:{OVER}",
    "own:w:²",
    "own:w:1:2",
    f"lds:hot:{HUGE}",
    "lds:hot:²",
    f"crd:{HUGE}",
    f"crd:{OVER}",
    "crd:²",
    "crd:-5",
    f"bc:go:{HUGE}:0",
    f"bc:s:{HUGE}:0",
    f"bc:t:{HUGE}",
    f"bc:x:{OVER}",
    "bc:go:²:0",
    "bc:s:1:²",
    f"bc:u:{HUGE}",
    f"bc:v:{HUGE}:fr",
    "bc:v:²:fr",
    f"bc:l:{OVER}",
    "bc:l:1:2",
    f"bc:w:{HUGE}:0",
    "bc:w:1:²",
    f"bc:at:{HUGE}:1",
    "bc:at:1:²",
    f"bc:r:{OVER}",
    f"inb:{HUGE}",
    f"inb:{OVER}",
    "inb:²",
    "inb:1:2",
]


async def test_the_forged_list_covers_every_registered_prefix(bot: Harness) -> None:
    patterns = [
        h.pattern.pattern
        for h in bot.app.handlers[0]
        if isinstance(h, CallbackQueryHandler) and isinstance(h.pattern, re.Pattern)
    ]
    prefixes = {re.match(r"\^(\w+)", p).group(1) for p in patterns}  # type: ignore[union-attr]
    assert prefixes and all(any(d.startswith(f"{x}:") for d in FORGED) for x in prefixes)


@pytest.mark.parametrize("who", [ADA, OWNER])
@pytest.mark.parametrize("data", FORGED)
async def test_forged_buttons_are_no_longer_active(
    bot: Harness, caplog: pytest.LogCaptureFixture, who: int, data: str
) -> None:
    await bot.text(who, "/start")
    await bot.text(OWNER, "/broadcast Hello")  # a draft 1 exists: `bc:s:1:²` reaches the parser
    before = len(bot.fake.answered_callbacks)
    with caplog.at_level(logging.WARNING):
        await bot.tap(who, data)
    assert len(bot.fake.answered_callbacks) == before + 1
    if not data.startswith(("mag:", "opt:")):
        assert bot.fake.answered_callbacks[-1].text == bot.t("button_expired")
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert bot.t("error") not in bot.texts(who)


async def test_a_button_on_an_inline_message(bot: Harness) -> None:
    await bot.text(ADA, "/start")
    for data in ("mag:what-to-wear", "stp", "fgt:yes", f"crd:{ADA}"):
        update = bot.fake.build_callback(ADA, data, check=False)
        query = update["callback_query"]
        del query["message"]  # pressed on a message sent inline: Telegram gives no chat
        query["inline_message_id"] = "AAAAAQ"
        await bot.send(update)
        assert bot.fake.answered_callbacks[-1].text == bot.t("button_expired")
    assert await bot.svc.store.count_events(Event.UNSUBSCRIBE) == 0  # nothing was done
    assert await bot.svc.store.sessions.get(ADA) is None


async def test_forged_stop_clicks_are_not_counted(bot: Harness) -> None:
    for user in (ADA, 102, 103):
        await bot.text(user, "/start")
        await bot.tap(user, "mag:what-to-wear")
        await bot.text(user, f"u{user}@example.com")
    await bot.text(OWNER, "/broadcast Hello")
    broadcast = await bot.svc.store.broadcasts.get(1)
    assert broadcast is not None
    await bot.svc.store.broadcasts.start(1, False, "stage:customer")  # nobody is a customer
    await bot.tap(102, "stp:1")  # never sent it: stopped (they asked) but not counted
    assert (await bot.svc.store.broadcasts.progress(1))["stop_clicks"] == 0
    lead = await bot.svc.store.leads.get(102)
    assert lead is not None and not lead.subscribed
    await bot.tap(OWNER, "stp:1")  # the owner's test copy is not a recipient's either
    assert await bot.svc.store.count_events(Event.BROADCAST_STOP) == 0
    # A tip's button counts only from someone who was sent that tip.
    assert not await bot.svc.store.tips.record_click(103, "what-to-wear", "colours", None)
    assert await bot.svc.store.count_events(Event.TIP_CLICK) == 0


async def polled(bot: Harness, update: dict[str, object]) -> None:
    """An update as polling brings it: kept in the inbox first (IntakeBot), then handled."""
    user = update.get("message") or update.get("callback_query")
    assert isinstance(user, dict)
    person = user["from"]["id"]
    await bot.svc.store.intake.save([(int(str(update["update_id"])), person, json.dumps(update))])
    await bot.send(update)


async def test_a_batch_redelivered_after_forget_never_brings_the_person_back(
    bot: Harness,
) -> None:
    batch = [bot.fake.build_message(ADA, "/start instagram", first_name="Zelda")]
    await polled(bot, batch[0])
    batch.append(bot.fake.build_callback(ADA, "mag:what-to-wear"))
    await polled(bot, batch[1])
    batch.append(bot.fake.build_message(ADA, "zelda@example.com"))
    await polled(bot, batch[2])
    await polled(bot, bot.fake.build_message(ADA, "/forget"))
    await polled(bot, bot.fake.build_callback(ADA, "fgt:yes"))
    assert await bot.svc.store.leads.get(ADA) is None
    # The process died before the next getUpdates: Telegram sends the same batch again.
    for update in batch:
        await polled(bot, update)
    assert await bot.svc.store.leads.get(ADA) is None
    assert await bot.svc.store.count_events(Event.START) == 1  # the erased, anonymous start
    assert await bot.svc.store.count_events(Event.LEAD) == 1
    rows = db.rows(bot.svc.store, "SELECT user_id, payload FROM inbox")
    assert rows and all(r["user_id"] is None and r["payload"] is None for r in rows)


async def owner_tries_the_funnel(bot: Harness) -> None:
    await bot.text(OWNER, "/start flyer")
    await bot.tap(OWNER, "mag:what-to-wear")
    await bot.text(OWNER, "owner@example.com")
    await bot.tap(OWNER, "ans:what-to-wear:family")
    await bot.text(OWNER, "/contact testing my own bot")


async def test_owners_are_left_out_of_kpis_chart_and_export(bot: Harness) -> None:
    await owner_tries_the_funnel(bot)
    await bot.text(ADA, "/start")
    await bot.tap(ADA, "mag:what-to-wear")
    await bot.text(ADA, "ada@example.com")
    await bot.tap(ADA, "ans:what-to-wear:family")
    zone = bot.svc.settings.zone
    september = month(2026, 9, zone)
    counts = await bot.svc.store.kpis.counts(september)
    assert (counts.starts, counts.new_leads, counts.downloads) == (1, 1, {"what-to-wear": 1})
    assert (counts.answered, counts.fit, counts.contact_requests, counts.ready_to_talk) == (
        1,
        1,
        0,
        0,
    )
    sources = await bot.svc.store.kpis.by_source(september)
    assert [(s.source, s.starts, s.new_leads) for s in sources] == [("", 1, 1)]
    assert await bot.svc.store.kpis.new_leads_per_month([september]) == [1]  # the chart's columns
    await bot.text(OWNER, "/export")
    document = bot.last(OWNER).document_bytes
    assert document is not None
    rows = list(csv.DictReader(io.StringIO(document.decode("utf-8-sig"))))
    assert [r["person"] for r in rows] == [str(ADA)]
    assert counts.starts == len(rows) and counts.new_leads == sum(1 for r in rows if r["lead"])


async def test_an_owner_who_erases_their_data_stays_out_of_kpis_and_export(bot: Harness) -> None:
    await owner_tries_the_funnel(bot)
    await bot.text(ADA, "/start")
    before = await bot.svc.store.kpis.counts(ALL_TIME)
    await bot.text(OWNER, "/forget")
    await bot.tap(OWNER, "fgt:yes")
    assert await bot.svc.store.leads.get(OWNER) is None
    after = await bot.svc.store.kpis.counts(ALL_TIME)
    assert after == before and (after.starts, after.new_leads) == (1, 0)  # past periods stay
    await bot.text(OWNER, "/export")
    document = bot.last(OWNER).document_bytes
    assert document is not None
    rows = list(csv.DictReader(io.StringIO(document.decode("utf-8-sig"))))
    assert [r["person"] for r in rows] == [str(ADA)]  # no anonymous row for the owner


async def test_export_keeps_numbers_as_numbers(bot: Harness) -> None:
    await bot.text(ADA, "/start")
    await bot.tap(ADA, "mag:what-to-wear")
    await bot.text(ADA, "ada@example.com")
    await bot.tap(ADA, "ans:what-to-wear:curious")
    await bot.tap(ADA, "mag:gardening-basics")
    await bot.tap(ADA, "ans:gardening-basics:not-yet")  # twice not fit: 10 - 20 + 5 = -5
    await bot.text(102, "/start", last_name="-5")  # a name is text: still guarded
    await bot.text(OWNER, "/export")
    document = bot.last(OWNER).document_bytes
    assert document is not None
    rows = {r["person"]: r for r in csv.DictReader(io.StringIO(document.decode("utf-8-sig")))}
    assert rows[str(ADA)]["score"] == "-5"  # a number, not the text "'-5"
    assert rows["102"]["last_name"] == "'-5"


ZELDA = 202


async def zelda_is_hot(bot: Harness, user: int = ZELDA, **profile: str) -> None:
    await bot.text(user, "/start", **({"first_name": "Zelda"} | profile))
    await bot.tap(user, "mag:what-to-wear")
    await bot.text(user, f"u{user}@example.com")
    await bot.tap(user, "ans:what-to-wear:family")
    await bot.text(user, "/plan")


async def test_forget_redacts_every_owner_message_naming_the_person(bot: Harness) -> None:
    await zelda_is_hot(bot, ADA, first_name="Ada")
    await zelda_is_hot(bot)
    alert = bot.last(OWNER)
    reply = bot.fake.build_message(OWNER, "Hello, free on Tuesday?", first_name="Owner")
    reply["message"]["reply_to_message"] = alert.message
    await bot.send(reply)
    sent = bot.last(OWNER)
    assert "Zelda" in sent.text  # "✓ Sent to Zelda."
    await bot.text(OWNER, "/leads recent")
    page = bot.last(OWNER)
    await bot.text(OWNER, "/leads hot")
    await bot.tap(OWNER, "lds:hot:0", message_id=bot.last(OWNER).message_id)  # paged in place
    hot = bot.last(OWNER)
    assert "Zelda" in page.text and "Ada" in page.text and "Zelda" in hot.text
    await notify_owners(bot.app.bot, bot.svc, "Mail to Zelda failed", about=ZELDA)
    notice = bot.last(OWNER)
    await bot.text(ZELDA, "/forget")
    await bot.tap(ZELDA, "fgt:yes")
    assert not [s.text for s in bot.chat(OWNER) if "Zelda" in s.text or "u202@" in s.text]
    assert sent.text == notice.text == bot.t("card_erased")
    assert "Ada" in page.text and "Ada" in hot.text  # the pages are drawn again, without her
    assert [row[0][1] for row in page.buttons if row[0][1].startswith("crd:")] == [f"crd:{ADA}"]


BIDI = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u200e\u200f\u061c")


def well_isolated(text: str) -> bool:
    """No bidi control but balanced isolates, no control character but line breaks."""
    controls = [c for c in text if c in BIDI or (ord(c) < 32 and c != "\n") or 127 <= ord(c) < 160]
    return not controls and text.count("\u2068") == text.count("\u2069") > 0


async def test_names_with_direction_overrides_are_isolated_for_owners(bot: Harness) -> None:
    await zelda_is_hot(
        bot, first_name="Eve\u202egnp.exe", last_name="\u2066Lo\u0007ve\u200f", username="e\u202ev"
    )
    card = bot.last(OWNER)
    assert well_isolated(card.text)
    assert "\u2068Evegnp.exe Lo ve\u2069" in card.text and "\u2068@ev\u2069" in card.text
    reply = bot.fake.build_message(OWNER, "Hello!", first_name="Owner")
    reply["message"]["reply_to_message"] = card.message
    await bot.send(reply)
    assert well_isolated(bot.last(OWNER).text)  # "✓ Sent to …"
    await bot.text(ZELDA, "Thanks, Tuesday works")
    assert well_isolated(bot.chat(OWNER)[-2].text)  # the relayed message's header
    await bot.text(OWNER, "/leads hot")
    page = bot.last(OWNER)
    assert well_isolated(page.text)
    assert all(
        well_isolated(label) for row in page.buttons for label, _ in row[:1] if "Eve" in label
    )


async def test_stats_read_on_a_phone_with_whole_titles_and_clear_labels(bot: Harness) -> None:
    await bot.text(ADA, "/start instagram")
    await bot.tap(ADA, "mag:gardening-basics")
    await bot.text(ADA, "ada@example.com")
    await bot.text(OWNER, "/stats")
    text = bot.chat(OWNER)[-2]
    assert "<pre>" not in text.html  # no wide block to scroll sideways
    lines = text.text.split("\n")
    assert "2026-09 · 2026-08 · all time" in lines  # what the figures on each line are
    assert "Starts: 1 · 0 · 1" in lines and "Lead rate: 100% · - · 100%" in lines
    assert "Tip click rate: - · - · -" in lines and "Qualified share: - · - · -" in lines
    assert "• Beginner's gardening guide: 0 · 0 · 0" in lines  # whole titles, never cut
    assert "• What to wear for your photo shoot: 0 · 0 · 0" in lines
    assert "<b>1</b>" in text.html  # the period's own figure stands out
    at = lines.index("instagram")
    assert lines[at + 1] == (
        "Starts 1 · New leads 1 · Lead rate 100% · Qualified share - · Ready to talk 0 · Won 0"
    )


async def test_the_stats_reader_leaves_owners_out_and_sees_every_write(bot: Harness) -> None:
    await owner_tries_the_funnel(bot)
    await bot.text(ADA, "/start")
    store = bot.svc.store
    reader = await store.reader()  # /stats computes all time on it
    assert reader is not store
    assert await reader.kpis.counts(ALL_TIME) == await store.kpis.counts(ALL_TIME)
    assert (await reader.kpis.counts(ALL_TIME)).starts == 1
    await bot.text(ADA + 1, "/start")  # committed on the main connection: seen at once
    assert (await reader.kpis.counts(ALL_TIME)).starts == 2
    await store.set_owners([OWNER, ADA + 1])  # owners changed later: the reader follows
    assert (await reader.kpis.counts(ALL_TIME)).starts == 1
    assert await reader.team.counts(ALL_TIME) == await store.team.counts(ALL_TIME)
    await store.set_owners([OWNER])
