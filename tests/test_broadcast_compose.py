"""Broadcasts as owners expect: any message copied as it is, versions per language, links."""

from __future__ import annotations

from typing import Any

import pytest
from telegram.error import BadRequest

from tests.conftest import OWNER, Harness
from tests.test_broadcast import make_leads

FISH = "Fish & chips night: 20% off for < 3 people!"


def picker_of(bot: Harness) -> tuple[int, list[list[tuple[str, str | None]]]]:
    """The latest segment picker: (draft id, its buttons)."""
    picker = bot.last(OWNER)
    assert picker.text.startswith("📣 Broadcast #"), picker.text
    return int(picker.text.split("#")[1].split(":")[0]), picker.buttons


def segment(bot: Harness, label_start: str) -> str:
    """The data of the picker's segment button whose label starts so."""
    _, rows = picker_of(bot)
    return next(str(data) for row in rows for label, data in row if label.startswith(label_start))


async def confirm(bot: Harness, label_start: str = "All subscribed leads") -> int:
    """Pick a segment, confirm the preview, wait for the broadcast to end."""
    broadcast_id, _ = picker_of(bot)
    await bot.tap(OWNER, segment(bot, label_start))
    await bot.tap(OWNER, next(d for r in bot.last(OWNER).buttons for _, d in r if "go" in str(d)))
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
    assert await bot.svc.store.get_broadcast(1) is None  # nothing stored


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
