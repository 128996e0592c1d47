"""The prospect funnel through the real PTB stack and the fake Bot API, as a user sees it."""

from __future__ import annotations

import pytest

from bot.store import Event
from tests.conftest import OWNER, Harness

pytestmark = pytest.mark.usefixtures("backend")  # every test on SQLite and PostgreSQL


ADA = 1001
WEAR = "What to wear for your photo shoot"


async def walk_to_pdf(bot: Harness, user: int = ADA, email: str = "ada@example.com") -> None:
    await bot.text(user, "/start instagram")
    await bot.tap_label(user, WEAR)
    await bot.text(user, email)
    await bot.tap_label(user, "Family or kids")


async def test_start_shows_welcome_and_menu(bot: Harness) -> None:
    await bot.text(ADA, "/start")
    message = bot.last(ADA)
    assert message.text.startswith("Hello Ada!")
    labels = [row[0][0] for row in message.buttons]
    assert labels == [WEAR, "Beginner's gardening guide", "7-day training plan"]
    assert message.buttons[0][0][1] == "mag:what-to-wear"


async def test_whole_funnel_in_english(bot: Harness) -> None:
    await bot.text(ADA, "/start instagram")
    await bot.tap_label(ADA, WEAR)
    ask = bot.last(ADA)
    assert WEAR in ask.text and "email address" in ask.text
    assert "/stop at any time" in ask.text  # the consent notice
    await bot.text(ADA, "Ada@Example.COM")
    assert bot.texts(ADA)[-2] == "Thanks! Your email is saved: Ada@example.com"
    question = bot.last(ADA)
    assert question.text == "What kind of shoot are you planning?"
    assert [row[0][0] for row in question.buttons][-1] == "Just curious"
    await bot.tap_label(ADA, "Family or kids")
    assert question.text.endswith("→ Family or kids")  # the question was edited in place
    assert question.buttons == []
    pdf, after = bot.chat(ADA)[-2:]
    assert pdf.document == "what-to-wear.en.pdf"
    assert pdf.document_bytes and pdf.document_bytes.startswith(b"%PDF-")
    assert pdf.text.startswith("Here is your guide: What to wear")
    assert after.text.startswith("Enjoy the read!")
    lead = await bot.svc.store.leads.get(ADA)
    assert lead is not None
    assert (lead.email, lead.first_source, lead.stage.value) == (
        "Ada@example.com",
        "instagram",
        "lead",
    )
    assert lead.consent_version == "2026-11-en-1" and lead.consent_at == int(bot.clock.now)
    [item] = await bot.svc.store.leads.lead_magnets(ADA)
    assert (item.answer_id, item.answer_fit, item.delivered_at) == (
        "family",
        True,
        int(bot.clock.now),
    )
    assert await bot.svc.store.count_events(Event.LEAD) == 1
    assert await bot.svc.store.count_events(Event.DOWNLOAD, value="first") == 1


async def test_french_user_gets_french_texts_and_pdf(bot: Harness) -> None:
    await bot.text(ADA, "/start", language_code="fr")
    assert bot.last(ADA).text.startswith("Bonjour Ada\u202f!")  # French typography
    await bot.tap_label(ADA, "Que porter pour votre séance photo")
    assert "adresse e-mail" in bot.last(ADA).text
    await bot.text(ADA, "ada@example.fr", language_code="fr")
    await bot.tap_label(ADA, "Mariage ou fiançailles")
    assert bot.chat(ADA)[-2].document == "what-to-wear.fr.pdf"


async def test_returning_lead_is_not_asked_for_email_again(bot: Harness) -> None:
    await walk_to_pdf(bot)
    await bot.text(ADA, "/magnets")
    await bot.tap_label(ADA, "Beginner's gardening guide")
    assert "email" not in bot.last(ADA).text
    assert bot.last(ADA).text == "Where will you garden?" and bot.last(ADA).buttons
    await bot.tap_label(ADA, bot.last(ADA).buttons[0][0][0])
    assert bot.chat(ADA)[-2].document == "gardening-basics.en.pdf"
    # The same magnet again: sent again, not counted again.
    await bot.tap(ADA, "mag:what-to-wear")
    assert bot.last(ADA).document == "what-to-wear.en.pdf"
    assert await bot.svc.store.count_events(Event.DOWNLOAD, value="first") == 2
    assert await bot.svc.store.count_events(Event.DOWNLOAD, value="again") == 1


async def test_magnet_deep_link_opens_on_the_magnet(bot: Harness) -> None:
    await bot.text(ADA, "/start flyer__gardening-basics")
    assert "Beginner's gardening guide" in bot.last(ADA).text
    assert "email address" in bot.last(ADA).text
    lead = await bot.svc.store.leads.get(ADA)
    assert lead is not None and lead.first_source == "flyer"


async def test_pdf_uploaded_once_then_resent_by_file_id(bot: Harness) -> None:
    await walk_to_pdf(bot, ADA)
    await walk_to_pdf(bot, 1002, "bob@example.com")
    sends = [c for c in bot.fake.calls if c.method == "sendDocument"]
    assert len(sends) == 2
    assert sends[0].files and not isinstance(sends[0].params.get("document"), str)
    assert isinstance(sends[1].params["document"], str)
    assert bot.chat(1002)[-2].document == "what-to-wear.en.pdf"


async def test_stale_file_id_is_uploaded_again(bot: Harness) -> None:
    pdf = bot.svc.catalogue.pdfs[("what-to-wear", "en")]
    await bot.svc.store.sessions.set_file_id(pdf.sha256, "BQACAgIAAxkBAAI-no-such-file")
    await walk_to_pdf(bot)
    assert bot.chat(ADA)[-2].document == "what-to-wear.en.pdf"
    assert await bot.svc.store.sessions.file_id(pdf.sha256) != "BQACAgIAAxkBAAI-no-such-file"
    # The rejected call is the expected one; nothing else was refused.
    assert all("file identifier" in v or "wrong file" in v for v in bot.fake.violations)
    bot.fake.violations.clear()


async def test_start_twice_keeps_first_source_and_one_start(bot: Harness) -> None:
    await bot.text(ADA, "/start instagram")
    await bot.text(ADA, "/start flyer")
    lead = await bot.svc.store.leads.get(ADA)
    assert lead is not None and lead.first_source == "instagram"
    assert await bot.svc.store.count_events(Event.START) == 1
    assert bot.last(ADA).text.startswith("Hello Ada!")


async def test_stop_then_explicit_opt_in(bot: Harness) -> None:
    await walk_to_pdf(bot)
    await bot.text(ADA, "/stop")
    assert bot.last(ADA).text.startswith("Done: you won't receive")
    lead = await bot.svc.store.leads.get(ADA)
    assert lead is not None and not lead.subscribed and lead.stage.value == "gone"
    await bot.text(ADA, "/stop")
    assert bot.last(ADA).text == bot.t("stop_already")
    await bot.tap(ADA, "mag:gardening-basics")
    assert "stop messaging you" in bot.last(ADA).text
    await bot.tap_label(ADA, "No thanks")
    lead = await bot.svc.store.leads.get(ADA)
    assert lead is not None and not lead.subscribed
    await bot.tap(ADA, "mag:gardening-basics")
    await bot.tap_label(ADA, "Yes, opt me in again")
    lead = await bot.svc.store.leads.get(ADA)
    assert lead is not None and lead.subscribed
    assert await bot.svc.store.count_events(Event.RESUBSCRIBE) == 1


async def test_forget_erases_after_confirmation(bot: Harness) -> None:
    await walk_to_pdf(bot)
    await bot.text(ADA, "/forget")
    assert bot.last(ADA).text == bot.t("forget_confirm")
    await bot.tap_label(ADA, "Cancel")
    assert bot.last(ADA).text == bot.t("forget_kept")
    assert await bot.svc.store.leads.get(ADA) is not None
    await bot.text(ADA, "/forget")
    await bot.tap_label(ADA, "Yes, erase my data")
    assert bot.last(ADA).text == bot.t("forget_done")
    assert await bot.svc.store.leads.get(ADA) is None
    assert await bot.svc.store.count_events(Event.LEAD) == 1  # anonymous counts stay
    await bot.text(ADA, "/mydata")
    assert bot.last(ADA).text == bot.t("mydata_none")
    # Coming back after erasure starts afresh: the email is asked again.
    await bot.text(ADA, "/start")
    await bot.tap_label(ADA, WEAR)
    assert "email address" in bot.last(ADA).text


async def test_mydata_shows_everything_escaped(bot: Harness) -> None:
    await walk_to_pdf(bot, ADA)
    await bot.text(ADA, "/magnets", first_name="<b>Ada</b> & co", username="ada_l")
    await bot.text(ADA, "/mydata")
    data = bot.last(ADA)
    assert "<b>Ada</b> & co" in data.text  # shown literally, not as formatting
    for expected in ("Ada@example.com"[1:], "@ada_l", "instagram", "What to wear for your"):
        assert expected in data.text.lower() or expected in data.text
    assert "answer “Family or kids” (a fit for us)" in data.text
    assert "Language: English" in data.text
    assert "Score (how we prioritise requests): 30 = email +10, fit answer +20" in data.text
    assert "Consent given: " in data.text and "“By sending your email you agree" in data.text
    for internal in ("what-to-wear", "family", "2026-11-en-1"):  # ids are not for people
        assert internal not in data.text, internal


async def test_mydata_speaks_the_persons_language(bot: Harness) -> None:
    fr = {"language_code": "fr"}
    await bot.text(ADA, "/start instagram", **fr)
    await bot.tap(ADA, "mag:training-plan")  # the profile (language) stays
    await bot.text(ADA, "ada@example.com", **fr)
    await bot.tap(ADA, "ans:training-plan:lose-weight")
    await bot.text(ADA, "Je voudrais un plan personnalisé", **fr)
    await bot.tap_label(ADA, "Passer")
    await bot.text(ADA, "/mydata", **fr)
    data = bot.last(ADA).text
    n = "\u202f"
    for expected in (
        f"Programme d'entraînement de 7 jours{n}: demandé",
        f"réponse «{n}Perdre du poids{n}» (correspond à notre offre)",
        f"Langue{n}: Français",
        f"(a écrit «{n}plan personnalisé{n}»)",
        "= e-mail +10, réponse adaptée +20, plan demandé +40",
        "«\u202fEn envoyant votre e-mail, vous acceptez",
    ):
        assert expected in data, expected
    for internal in ("training-plan", "lose-weight", "2026-11-fr-1", "wrote", "email +10"):
        assert internal not in data, internal


async def test_privacy_help_cancel(bot: Harness) -> None:
    await bot.text(ADA, "/privacy")
    assert "/forget" in bot.last(ADA).text
    await bot.text(ADA, "/help")
    assert "/magnets" in bot.last(ADA).text
    await bot.text(ADA, "/cancel")
    assert bot.last(ADA).text == bot.t("nothing_to_cancel")
    await bot.text(ADA, "/start")
    await bot.tap_label(ADA, WEAR)
    await bot.text(ADA, "/cancel")
    assert bot.last(ADA).text == bot.t("cancelled")
    await bot.text(ADA, "ada@example.com")  # no longer waiting for an email: for the team
    assert bot.last(ADA).text == bot.t("inbox_ack")
    assert (await bot.svc.store.leads.get(ADA)).email is None  # type: ignore[union-attr]


async def test_bot_sets_its_command_menu(bot: Harness) -> None:
    calls = [c for c in bot.fake.calls if c.method == "setMyCommands"]
    languages = {c.params.get("language_code") for c in calls if "scope" not in c.params}
    assert languages == {None, "en", "fr"}
    owner = next(c for c in calls if "scope" in c.params)
    assert "stats" in str(owner.params["commands"]) and str(OWNER) in str(owner.params["scope"])
    fr = next(c for c in calls if c.params.get("language_code") == "fr")
    assert "magnets" in str(fr.params["commands"]) and "Les guides gratuits" in str(
        fr.params["commands"]
    )
