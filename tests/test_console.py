"""Owner console: lead lists and cards, the CSV export, shareable links with QR codes."""

from __future__ import annotations

import csv
import io
from collections import Counter

import pytest
from PIL import Image

from bot.owner.periods import ALL_TIME, month
from bot.telegram.html import plain_text as plain
from tests.conftest import OWNER, Harness
from tests.test_stats import funnel

pytestmark = pytest.mark.usefixtures("backend")  # every test on SQLite and PostgreSQL


def export_rows(bot: Harness) -> list[dict[str, str]]:
    document = bot.last(OWNER)
    assert document.document and document.document.endswith(".csv")
    data = document.document_bytes
    assert data is not None and data.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM for spreadsheets
    assert b"\r\n" in data
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))


async def test_export_has_one_row_per_person_and_matches_stats(bot: Harness) -> None:
    await funnel(bot, 1, "instagram")
    await funnel(bot, 2, "flyer", answer="curious")
    await bot.text(3, "/start")
    await bot.text(2, "/plan")
    await bot.text(1, "/forget")
    await bot.tap(1, "fgt:yes")
    await bot.text(OWNER, "/export")
    rows = export_rows(bot)
    assert len(rows) == 3
    erased, flyer, visitor = rows
    assert erased["person"].startswith("erased-") and erased["stage"] == "erased"
    assert erased["email"] == erased["first_name"] == erased["username"] == ""
    assert erased["first_source"] == "instagram" and erased["magnets"] == "what-to-wear"
    assert flyer["email"] == "u2@example.com" and flyer["answers"] == "what-to-wear:curious"
    assert flyer["qualified"] == "not fit" and flyer["stage"] == "hot"
    assert flyer["score"] == str(10 - 10 + 40) and flyer["plan_requested"]
    assert visitor["stage"] == "visitor" and visitor["lead"] == ""
    counts = await bot.svc.store.kpis.counts(month(2026, 9, bot.svc.settings.zone))
    assert counts.starts == len(rows)
    assert counts.new_leads == sum(1 for r in rows if r["lead"])
    assert counts.ready_to_talk == sum(1 for r in rows if r["plan_requested"] or r["contact_sent"])
    assert "people" in bot.last(OWNER).text


async def test_export_dates_counted_per_month_give_the_stats_figures(bot: Harness) -> None:
    """README (The CSV export): started, lead, plan_requested and won per month give /stats'
    starts, new leads, plan requests and won; the magnets, over everyone, all-time downloads."""
    await funnel(bot, 1, "instagram")
    await funnel(bot, 2, "flyer", answer="curious")
    await bot.tap(1, "mag:gardening-basics")
    await bot.tap(1, "ans:gardening-basics:garden")
    await bot.tap(1, "mag:what-to-wear")  # the same guide again: not a download again
    await bot.text(2, "/plan")
    await bot.text(2, "/plan")
    await bot.tap(OWNER, "own:w:2")
    await bot.text(3, "/start")
    await bot.text(1, "/forget")
    await bot.tap(1, "fgt:yes")
    await bot.text(OWNER, "/export")
    rows = export_rows(bot)
    september = await bot.svc.store.kpis.counts(month(2026, 9, bot.svc.settings.zone))
    everything = await bot.svc.store.kpis.counts(ALL_TIME)

    def in_september(column: str) -> int:
        return sum(1 for r in rows if r[column].startswith("2026-09"))

    assert (september.starts, september.new_leads) == (in_september("started"), 2)
    assert september.new_leads == in_september("lead")
    assert september.plan_requests == in_september("plan_requested") == 1
    assert september.won == in_september("won") == 1
    guides = Counter(m for r in rows for m in r["magnets"].split(";") if m)
    assert everything.downloads == dict(guides) == {"what-to-wear": 2, "gardening-basics": 1}


async def test_export_neutralises_formulas_and_keeps_html_verbatim(bot: Harness) -> None:
    await bot.text(1, "/start", first_name='=HYPERLINK("http://evil")', last_name="+1+2")
    await bot.text(2, "/start", first_name="@SUM(A1)", last_name="-3", username="<b>x</b>")
    await bot.text(3, "/start", first_name='Zoé, "the" best', last_name="a\nb")
    await bot.text(OWNER, "/export")
    rows = {r["person"]: r for r in export_rows(bot)}
    assert rows["1"]["first_name"] == '\'=HYPERLINK("http://evil")'
    assert rows["1"]["last_name"] == "'+1+2"
    assert rows["2"]["first_name"] == "'@SUM(A1)" and rows["2"]["last_name"] == "'-3"
    assert rows["2"]["username"] == "<b>x</b>"
    assert rows["3"]["first_name"] == 'Zoé, "the" best' and rows["3"]["last_name"] == "a\nb"


async def test_leads_lists_pages_and_cards(bot: Harness) -> None:
    for user in range(1, 11):
        await funnel(bot, user, "flyer")
        await bot.text(user, "/plan")
        bot.clock.now += 60
    await bot.text(OWNER, "/leads")
    page = bot.last(OWNER)
    assert page.text.startswith("🔥 Ready to talk (10)")
    assert page.text.count("•") == 8 and page.buttons[-1] == [("▶", "lds:hot:1")]
    await bot.tap(OWNER, "lds:hot:1", message_id=page.message_id)
    assert page.text.count("•") == 2 and page.buttons[-1] == [("◀", "lds:hot:0")]
    await bot.tap(OWNER, page.buttons[0][0][1], message_id=page.message_id)
    card = bot.last(OWNER)
    assert card.text.startswith("👤 Lead") and "Email: u2@example.com" in card.text
    await bot.tap(OWNER, "own:w:2", message_id=card.message_id)
    await bot.text(OWNER, "/leads won")
    assert bot.last(OWNER).text.startswith("🏆 Won (1)")
    await bot.text(OWNER, "/leads recent")
    assert bot.last(OWNER).text.startswith("🆕 Recent leads (10)")
    await bot.text(OWNER, "/leads nonsense")
    assert bot.last(OWNER).text == bot.t("leads_usage")


async def test_console_is_invisible_to_prospects(bot: Harness) -> None:
    await funnel(bot, 1, "flyer")
    for command in ("/leads", "/leads hot", "/export", "/links", "/links flyer"):
        await bot.text(1, command)
        assert bot.last(1).text == bot.t("unknown_command")
    for data in ("lds:hot:0", "lds:x:y", "crd:1", "crd:abc"):
        await bot.tap(1, data)
        assert bot.fake.answered_callbacks[-1].text == bot.t("button_expired")
    assert not any(s.document for s in bot.chat(1) if s.document and s.document.endswith(".csv"))


async def test_links_with_qr_codes(bot: Harness) -> None:
    await bot.text(OWNER, "/links flyer")
    sent = bot.chat(OWNER)
    codes = [s for s in sent if s.method == "sendDocument"]
    assert len(codes) == 1 + len(bot.svc.catalogue.magnets)
    assert not [s for s in sent if s.method == "sendPhoto"]  # a photo would be recompressed
    urls = [p.text.split("\n")[-1] for p in codes]
    assert urls[0] == "https://t.me/aimant_test_bot?start=flyer"
    assert "https://t.me/aimant_test_bot?start=flyer__what-to-wear" in urls
    names = [c.document for c in codes]
    assert names[:2] == ["qr-flyer-menu.png", "qr-flyer-what-to-wear.png"]
    images = [Image.open(io.BytesIO(c.document_bytes or b"")) for c in codes]
    assert len({c.document_bytes for c in codes}) == len(codes)
    for image in images:
        assert image.format == "PNG" and image.height > image.width  # a caption under the code
        pixels = image.convert("L")
        quiet = [pixels.getpixel((x, y)) for x in range(image.width) for y in range(40)]
        assert min(quiet) == 255  # 4 modules of 10 px, white
        assert min(pixels.getpixel((x, 40)) for x in range(image.width)) == 0  # then the code
        below = range(image.width, image.height)
        caption = [pixels.getpixel((x, y)) for x in range(40, image.width - 40) for y in below]
        assert min(caption) < 100  # the label is drawn below the quiet zone
    # Scanning the code opens the bot on that magnet with that source.
    await bot.text(7, "/start flyer__what-to-wear")
    lead = await bot.svc.store.leads.get(7)
    assert lead is not None and lead.first_source == "flyer"
    assert "email address" in bot.last(7).text
    await bot.text(OWNER, "/links")
    assert bot.last(OWNER).text.endswith("?start=training-plan")
    assert bot.last(OWNER).document == "qr-direct-training-plan.png"


async def test_links_make_a_source_from_the_whole_name(bot: Harness) -> None:
    await bot.text(OWNER, "/links Salon du Mariage")
    assert "salon-du-mariage" in bot.chat(OWNER)[-4].text
    assert bot.last(OWNER).text.endswith("?start=salon-du-mariage__training-plan")
    await bot.text(OWNER, "/links Fête d'été 2026!")
    assert bot.last(OWNER).text.endswith("?start=fete-d-ete-2026__training-plan")
    await bot.text(OWNER, "/links a__b")
    assert bot.last(OWNER).text.endswith("?start=a-b__training-plan")
    await bot.text(OWNER, "/links 🎉 !")
    assert bot.last(OWNER).text == bot.t("links_usage")
    await bot.text(OWNER, "/links What to wear")
    assert bot.last(OWNER).text == bot.t("links_source_magnet", name="What to wear")
    longest = 64 - 2 - max(len(m.id) for m in bot.svc.catalogue.magnets)
    await bot.text(OWNER, "/links " + "x" * (longest + 1))
    assert bot.last(OWNER).text.startswith("“xxx")
    assert f" {longest} " in bot.last(OWNER).text
    await bot.text(OWNER, "/links " + "x" * longest)
    assert len(bot.last(OWNER).text.split("start=")[1].split("\n")[0]) <= 64


async def test_review_cases_big_stats_erased_card_double_tap_and_magnet_source(
    bot: Harness,
) -> None:
    for n in range(40):  # many sources
        await bot.text(5000 + n, f"/start campaign-with-a-long-name-{n:02d}")
        await bot.tap(5000 + n, "mag:what-to-wear")
        await bot.text(5000 + n, f"p{n}@example.com")
    await bot.text(OWNER, "/stats")  # fits Telegram's limits (the fake checks every call)
    await bot.text(OWNER, "/leads recent")
    page = bot.last(OWNER)
    await bot.tap(OWNER, "lds:recent:1", message_id=page.message_id)
    await bot.tap(OWNER, "lds:recent:1", message_id=page.message_id)  # double tap
    assert page.buttons and page.buttons[-1][0][1] == "lds:recent:0"  # buttons kept
    target = page.buttons[0][0][1]
    erased = int(target.split(":")[1])
    await bot.text(erased, "/forget")
    await bot.tap(erased, "fgt:yes")
    await bot.tap(OWNER, target, message_id=page.message_id)
    assert bot.last(OWNER).text.endswith(bot.t("card_erased"))
    await bot.text(OWNER, "/links what-to-wear")
    assert bot.last(OWNER).text == bot.t("links_source_magnet", name="what-to-wear")


async def test_owner_language_keeps_the_console_in_one_language(bot_with) -> None:  # type: ignore[no-untyped-def]
    bot = await bot_with(owner_language="fr", default_language="en")
    assert bot.svc.owner_lang == "fr"
    owner_menus = [c for c in bot.fake.calls if c.method == "setMyCommands" and "scope" in c.params]
    descriptions = [c["description"] for c in owner_menus[-1].params["commands"]]
    assert bot.t("cmd_stats", "fr") in descriptions
    # A German prospect falls back to DEFAULT_LANGUAGE (English), not to the owners' French.
    await bot.text(4001, "/start", language_code="de")
    assert bot.last(4001).text.startswith("Hello")
    await bot.text(4001, "/plan", language_code="de")
    assert bot.last(4001).text == bot.t("plan_ask_goal")
    assert bot.last(OWNER).text.startswith(plain(bot.t("alert_plan", "fr")))
    assert "Pourquoi\u202f: a demandé un plan personnalisé (/plan)" in bot.last(OWNER).text
    # Whatever the owner's app language, the console answers in OWNER_LANGUAGE.
    await bot.text(OWNER, "/cancel", language_code="en")
    assert bot.last(OWNER).text == bot.t("nothing_to_cancel", "fr")
    await bot.text(OWNER, "/leads nope", language_code="en")
    assert bot.last(OWNER).text == bot.t("leads_usage", "fr")
    await bot.text(OWNER, "/stats", language_code="en")
    assert bot.chat(OWNER)[-2].text.startswith("📊 Statistiques")
    await bot.text(OWNER, "/export", language_code="en")
    assert bot.last(OWNER).text == bot.svc.texts.count("fr", "export_caption", 1)


async def test_owner_language_defaults_to_the_default_language(bot_with) -> None:  # type: ignore[no-untyped-def]
    bot = await bot_with(default_language="fr")
    assert bot.svc.owner_lang == "fr"
    await bot.text(OWNER, "/cancel", language_code="en")
    assert bot.last(OWNER).text == bot.t("nothing_to_cancel", "fr")
