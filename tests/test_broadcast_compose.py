"""Broadcasts as owners expect: any message copied as it is, versions per language, links."""

from __future__ import annotations

from typing import Any

import pytest
from telegram.error import BadRequest

from tests.conftest import OWNER, Harness
from tests.test_broadcast import make_leads

pytestmark = pytest.mark.usefixtures("backend")  # every test on SQLite and PostgreSQL


FISH = "Fish & chips night: 20% off for < 3 people!"


def picker_of(bot: Harness) -> tuple[int, list[list[tuple[str, str | None]]]]:
    """The latest segment picker: (draft id, its buttons)."""
    picker = next(s for s in reversed(bot.chat(OWNER)) if "who should receive" in s.text)
    return int(picker.text.split("#")[1].split(":")[0]), picker.buttons


def segment(bot: Harness, label_start: str) -> str:
    """The data of the picker's segment button whose label starts so."""
    _, rows = picker_of(bot)
    return next(str(data) for row in rows for label, data in row if label.startswith(label_start))


def go_button(bot: Harness) -> str:
    """The data of the latest "✅ Send to N" button."""
    rows = [row for sent in reversed(bot.chat(OWNER)) for row in sent.buttons]
    return next(str(data) for row in rows for _, data in row if str(data).startswith("bc:go:"))


async def confirm(bot: Harness, label_start: str = "All subscribed leads") -> int:
    """Pick a segment, confirm the preview, wait for the broadcast to end."""
    broadcast_id, _ = picker_of(bot)
    await bot.tap(OWNER, segment(bot, label_start))
    await bot.tap(OWNER, go_button(bot))
    await bot.svc.broadcaster.wait(broadcast_id)
    return broadcast_id


def copies(bot: Harness, user: int) -> list[Any]:
    """What the broadcasts put in a chat (copies of the owner's messages)."""
    return [s for s in bot.chat(user) if s.method == "copyMessage"]


async def test_plain_text_with_html_characters_is_sent_as_typed(bot: Harness) -> None:
    await make_leads(bot, range(100, 103))
    await bot.text(OWNER, f"/broadcast {FISH}")
    assert bot.chat(OWNER)[-3].text == FISH  # shown back: the message leads will get
    broadcast_id = await confirm(bot)
    for user in range(100, 103):
        [got] = copies(bot, user)
        assert got.text == FISH
        assert got.buttons == [[("🔕 Stop messages from us", f"stp:{broadcast_id}")]]


async def test_the_owners_formatting_is_kept_nothing_escaped(bot: Harness) -> None:
    await make_leads(bot, range(110, 112))
    await bot.text(OWNER, "/broadcast")
    bold = [{"type": "bold", "offset": 0, "length": 4}]
    await bot.send(bot.fake.build_message(OWNER, "Sale <today> & tomorrow", entities=bold))
    await confirm(bot)
    [got] = copies(bot, 110)
    assert got.text == "Sale <today> & tomorrow"
    assert got.message["entities"] == bold


@pytest.mark.parametrize("kind", ["photo", "video", "document", "voice", "audio"])
async def test_media_with_a_caption_is_copied_not_uploaded(bot: Harness, kind: str) -> None:
    await make_leads(bot, range(120, 123))
    await bot.text(OWNER, "/broadcast")
    caption = "New collection: come and see"
    if kind == "photo":
        update = bot.fake.build_photo(OWNER, caption=caption)
    else:
        update = bot.fake.build_media(OWNER, kind, caption=caption)
    await bot.send(update)
    source = update["message"]["message_id"]
    await confirm(bot)
    for user in range(120, 123):
        [got] = copies(bot, user)
        assert got.text == caption and kind in got.message
        assert got.params["from_chat_id"] == OWNER and got.params["message_id"] == source
    methods = {c.method for c in bot.fake.calls}
    assert not methods & {"getFile", "sendPhoto", "sendVideo", "sendDocument", "sendVoice"}


async def refused_with(bot: Harness, update: dict[str, Any], key: str, **values: str) -> None:
    await bot.text(OWNER, "/broadcast")
    await bot.send(update)
    assert bot.last(OWNER).text == bot.t(key, **values)
    assert await bot.svc.store.broadcasts.get(1) is None  # nothing stored


async def test_a_poll_is_refused(bot: Harness) -> None:
    update = bot.fake.build_message(OWNER, "x")
    del update["message"]["text"]
    update["message"]["poll"] = {
        "id": "1", "question": "Which day?", "total_voter_count": 0, "is_closed": False,
        "is_anonymous": True, "type": "regular", "allows_multiple_answers": False,
        "allows_revoting": True, "members_only": False,
        "options": [
            {"text": d, "voter_count": 0, "persistent_id": d} for d in ("Mon", "Tue")
        ],
    }  # fmt: skip
    await refused_with(bot, update, "bc_no_poll")


async def test_a_service_message_is_refused(bot: Harness) -> None:
    update = bot.fake.build_message(OWNER, "x")
    pinned = {**update["message"], "message_id": 1}
    del update["message"]["text"]
    update["message"]["pinned_message"] = pinned  # the owner pinned a message meanwhile
    await refused_with(bot, update, "bc_not_copyable")


async def test_a_caption_over_1024_characters_is_refused(bot: Harness) -> None:
    update = bot.fake.build_photo(OWNER, caption="x" * 1025)
    await refused_with(bot, update, "bc_caption_long", length="1025")
    await bot.send(bot.fake.build_photo(OWNER, caption="x" * 1024))  # still composing: accepted
    assert picker_of(bot)[0] == 1


async def test_an_album_is_refused(bot: Harness) -> None:
    update = bot.fake.build_photo(OWNER, caption="one of three")
    update["message"]["media_group_id"] = "album-1"
    await refused_with(bot, update, "bc_no_album")


async def test_the_fake_refuses_what_telegram_cannot_copy(bot: Harness) -> None:
    bot.fake.add_user(100)
    message = bot.fake.build_message(OWNER, "x")["message"]
    del message["text"]
    message["new_chat_title"] = "Renamed"  # a service message
    bot.fake._incoming[(OWNER, message["message_id"])] = message  # as the fake saw it
    with pytest.raises(BadRequest, match="can't be copied"):
        await bot.app.bot.copy_message(100, OWNER, message["message_id"])
    long = bot.fake.build_photo(OWNER, caption="x" * 1500)["message"]  # a Premium caption
    with pytest.raises(BadRequest, match="caption is too long"):
        await bot.app.bot.copy_message(100, OWNER, long["message_id"])
    bot.fake.violations.clear()  # refused on purpose


async def make_lead(bot: Harness, user: int, language: str) -> None:
    """A subscribed lead speaking `language` (their Telegram language code)."""
    store = bot.svc.store
    bot.fake.add_user(user, first_name=f"Lead{user}")
    await store.leads.touch_visitor(
        user, first_name=f"Lead{user}", last_name=None, username=None, language=language,
        source="flyer",
    )  # fmt: skip
    await store.leads.request_magnet(user, "what-to-wear", None)
    await store.leads.capture_email(
        user, f"l{user}@example.com", consent_version="v", magnet_id=None
    )
    await store.leads.mark_delivered(user, "what-to-wear", None)


async def compose_bilingual(bot: Harness) -> tuple[int, int]:
    """An English photo, then its French version: (English message id, French message id)."""
    await bot.text(OWNER, "/broadcast")
    english = bot.fake.build_photo(OWNER, caption="New collection: book your fitting")
    await bot.send(english)
    await bot.tap_label(OWNER, "➕ Add the French version")
    assert bot.last(OWNER).text == bot.t("bc_ask_version", language="French")
    french = bot.fake.build_photo(OWNER, caption="Nouvelle collection : réservez votre essayage")
    await bot.send(french)
    return english["message"]["message_id"], french["message"]["message_id"]


async def test_each_lead_gets_their_languages_version(bot: Harness) -> None:
    for user, language in ((100, "en"), (101, "fr"), (102, "fr-CA"), (103, "de")):
        await make_lead(bot, user, language)
    english, french = await compose_bilingual(bot)
    summary = bot.chat(OWNER)[-2]
    assert "Versions: English, French" in summary.text
    assert [label for row in summary.buttons for label, _ in row] == ["🔗 Add a link button"]
    broadcast_id, _ = picker_of(bot)
    await bot.tap(OWNER, segment(bot, "All subscribed leads"))
    # The preview rehearses every version, each under the language it goes to.
    shown = bot.chat(OWNER)[-5:-1]
    assert [s.text for s in shown[::2]] == ["⬇ English version:", "⬇ French version:"]
    assert [s.params["message_id"] for s in shown[1::2]] == [english, french]
    assert shown[3].buttons == [[("🔕 Ne plus rien recevoir", f"stp:{broadcast_id}")]]
    before = len(copies(bot, OWNER))
    await bot.tap(OWNER, f"bc:t:{broadcast_id}")
    assert [s.params["message_id"] for s in copies(bot, OWNER)[before:]] == [english, french]
    await bot.tap(OWNER, go_button(bot))
    await bot.svc.broadcaster.wait(broadcast_id)
    sources = {u: [s.params["message_id"] for s in copies(bot, u)] for u in range(100, 104)}
    # French speakers get the French version; everyone else the default language's.
    assert sources == {100: [english], 101: [french], 102: [french], 103: [english]}


async def test_a_version_in_a_language_without_texts_is_refused(bot: Harness) -> None:
    await bot.text(OWNER, f"/broadcast {FISH}")
    await bot.tap(OWNER, "bc:v:1:de")  # no de.toml: leads could not get German texts
    assert bot.last(OWNER).text == bot.t("bc_no_lang", languages="en, fr")
    assert await bot.svc.store.sessions.get(OWNER) is None
    draft = await bot.svc.store.broadcasts.get(1)
    assert draft is not None and list(draft.versions) == ["en"]


async def test_link_buttons_are_validated_and_go_above_the_stop_button(bot: Harness) -> None:
    await make_lead(bot, 100, "en")
    await bot.text(OWNER, f"/broadcast {FISH}")
    for typed, key in (
        ("Book", "bc_link_usage"),
        ("Book now http://example.com/book", "bc_link_scheme"),
        ("Open tg://resolve?domain=aimant", "bc_link_scheme"),
        ("Click javascript:alert(1)", "bc_link_scheme"),
        ("Broken https://", "bc_link_host"),
        ("Me https://user:pw@example.com", "bc_link_host"),
        ("x" * 41 + " https://example.com", "bc_link_label"),
    ):
        if bot.last(OWNER).text != bot.t("bc_ask_link") and key == "bc_link_usage":
            await bot.tap_label(OWNER, "🔗 Add a link button")
        await bot.text(OWNER, typed)
        assert bot.last(OWNER).text == bot.t(key), typed  # refused, still asking
    await bot.text(OWNER, "Book now https://example.com/book")
    for typed in ("Our channel t.me/aimant_news", "Shop https://shop.example.com"):
        await bot.tap_label(OWNER, "🔗 Add a link button")
        await bot.text(OWNER, typed)
    summary = bot.chat(OWNER)[-2]
    assert "Link buttons: Book now, Our channel, Shop" in summary.text
    assert summary.buttons == [[("➕ Add the French version", "bc:v:1:fr")]]  # three at most
    await bot.tap(OWNER, "bc:l:1")
    assert bot.last(OWNER).text == bot.t("bc_link_full")
    broadcast_id = await confirm(bot)
    [got] = copies(bot, 100)
    assert got.buttons == [
        [("Book now", "https://example.com/book")],
        [("Our channel", "https://t.me/aimant_news")],
        [("Shop", "https://shop.example.com")],
        [("🔕 Stop messages from us", f"stp:{broadcast_id}")],
    ]


async def test_two_owners_editing_the_same_draft(bot_with) -> None:  # type: ignore[no-untyped-def]
    bot = await bot_with(owner_ids=[OWNER, OWNER + 1])
    second = OWNER + 1
    await bot.text(second, "/help")
    await make_lead(bot, 101, "fr")
    await bot.text(OWNER, f"/broadcast {FISH}")
    # Both owners see the draft's buttons and both may add to it: the last version sent wins.
    await bot.tap(OWNER, "bc:v:1:fr")
    await bot.tap(second, "bc:v:1:fr")
    await bot.text(second, "Soirée poisson-frites")
    await bot.text(OWNER, "Soirée poisson-frites : -20 %")
    draft = await bot.svc.store.broadcasts.get(1)
    assert draft is not None
    assert draft.versions["fr"].from_chat == OWNER  # the owner who sent last
    # Once one of them has sent it, the other's edits are refused, not applied.
    await bot.tap(second, "bc:l:1")
    await bot.tap(OWNER, "bc:go:1:0")
    await bot.svc.broadcaster.wait(1)
    await bot.text(second, "Book https://example.com/book")
    assert bot.last(second).text == bot.t("bc_not_draft")
    assert [s.text for s in copies(bot, 101)] == ["Soirée poisson-frites : -20 %"]


async def test_segments_by_language_and_capture_date(bot: Harness) -> None:
    start = bot.clock.now
    bot.clock.now = start - 20 * 86400  # captured 20 days ago
    await make_lead(bot, 100, "en")
    await make_lead(bot, 101, "fr")
    bot.clock.now = start - 40 * 86400  # 40 days ago
    await make_lead(bot, 102, "fr-CA")
    bot.clock.now = start - 86400  # yesterday
    await make_lead(bot, 103, "de")
    bot.clock.now = start
    await bot.text(OWNER, f"/broadcast {FISH}")
    _, rows = picker_of(bot)
    labels = [row[0][0] for row in rows]
    assert labels[:5] == [
        "All subscribed leads (4)",
        "Language: English (1)",
        "Language: French (2)",
        "Captured in the last 7 days (1)",
        "Captured in the last 30 days (3)",
    ]
    await confirm(bot, "Language: French")
    assert [u for u in range(100, 104) if copies(bot, u)] == [101, 102]


async def test_a_reply_to_a_broadcast_reaches_the_team(bot: Harness) -> None:
    await make_lead(bot, 100, "en")
    await bot.text(OWNER, "/broadcast Reply to book your fitting")
    await confirm(bot)
    answer = bot.fake.build_message(100, "Saturday 10:00 please")
    await bot.send(answer)  # "reply to book": the team inbox gets it, as any message
    relayed = [s for s in copies(bot, OWNER) if s.params["from_chat_id"] == 100]
    assert [s.params["message_id"] for s in relayed] == [answer["message"]["message_id"]]
