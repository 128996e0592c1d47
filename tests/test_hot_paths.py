"""The per-update shortcuts (issue 14) behave exactly like the general code they skip: the bot's
defaults inserted as ExtBot would, replies to private chats sent without PTB's limiter
machinery (groups still paced by it), the chatless-button guard tried on buttons only, leads
built from full rows without their frozen dataclass's __init__, polled updates kept in the
inbox as Telegram sent them (not through PTB's to_dict) and parsed once, not twice."""

from __future__ import annotations

import datetime as dtm
import json
from dataclasses import FrozenInstanceError, fields
from pathlib import Path
from typing import Any

import pytest
from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    InputPollOption,
    LinkPreviewOptions,
    ReplyParameters,
    Update,
)
from telegram._utils.defaultvalue import DEFAULT_NONE, DefaultValue
from telegram.constants import ParseMode
from telegram.ext import Defaults, ExtBot

from bot.app import ChatlessButtonHandler
from bot.funnel.rules import Stage
from bot.store import Store
from bot.store.leads import Lead, LeadMagnet, _built
from bot.telegram.intake import IntakeBot
from bot.telegram.replies import ReplyRateLimiter
from handlers.fallback import chatless_button
from tests.fakeapi import FakeRequest, FakeTelegram
from tests.test_faults import POISON


def _data() -> dict[str, Any]:
    """A call's data with every kind of value ExtBot._insert_defaults tells apart."""
    return {
        "chat_id": 42,
        "text": "hello",
        "empty": "",  # an empty sequence of poll options to ExtBot: it becomes []
        "caption": None,
        "flag": True,
        "ratio": 1.5,
        "parse_mode": DEFAULT_NONE,
        "disable_notification": DefaultValue(False),
        "protect_content": DefaultValue(None),
        "mode": ParseMode.HTML,  # a str subclass
        "reply_markup": InlineKeyboardMarkup([[InlineKeyboardButton("a", callback_data="a")]]),
        "link_preview_options": LinkPreviewOptions(is_disabled=DEFAULT_NONE),  # type: ignore[arg-type]
        "reply_parameters": ReplyParameters(message_id=1),
        "until_date": dtm.datetime(2026, 1, 2, 3, 4, 5),
        "photo": InputMediaPhoto("file-id"),
        "media": [InputMediaPhoto("file-id"), InputMediaPhoto("other")],
        "options": [InputPollOption("yes"), InputPollOption("no")],
        "entities": [],
    }


@pytest.mark.parametrize(
    "defaults",
    [
        Defaults(parse_mode=ParseMode.HTML),
        Defaults(parse_mode=ParseMode.HTML, disable_notification=True, protect_content=True),
        Defaults(tzinfo=dtm.timezone(dtm.timedelta(hours=2)), allow_sending_without_reply=True),
    ],
)
def test_defaults_are_inserted_as_extbot_inserts_them(defaults: Defaults) -> None:
    ours = IntakeBot("123:abc", defaults=defaults)
    theirs = ExtBot("123:abc", defaults=defaults)
    mine, reference = _data(), _data()
    ours._insert_defaults(mine)
    theirs._insert_defaults(reference)
    assert list(mine) == list(reference)  # same keys, same order
    for key in reference:
        assert type(mine[key]) is type(reference[key]), key
        if hasattr(reference[key], "to_dict"):
            assert mine[key].to_dict() == reference[key].to_dict(), key
        elif (
            isinstance(reference[key], list)
            and reference[key]
            and hasattr(reference[key][0], "to_dict")
        ):
            assert [m.to_dict() for m in mine[key]] == [r.to_dict() for r in reference[key]], key
        else:
            assert mine[key] == reference[key], key


def test_without_defaults_the_bots_insert_the_same() -> None:
    mine, reference = _data(), _data()
    IntakeBot("123:abc")._insert_defaults(mine)
    ExtBot("123:abc")._insert_defaults(reference)
    assert list(mine) == list(reference)
    assert {k: type(v) for k, v in mine.items()} == {k: type(v) for k, v in reference.items()}


async def _through(limiter: ReplyRateLimiter, data: dict[str, Any]) -> tuple[Any, int]:
    """What a reply with this data returns, and how often PTB's limiter machinery ran (its
    overall limiter, or a group's budget)."""
    ran = 0
    original = limiter._run_request

    async def counted(**kwargs: Any) -> Any:
        nonlocal ran
        ran += 1
        return await original(**kwargs)

    limiter._run_request = counted  # type: ignore[method-assign]
    turn = limiter._group_turn

    async def group_turn(group: Any) -> None:  # the group's budget, taken by ReplyRateLimiter
        nonlocal ran
        ran += 1
        await turn(group)

    limiter._group_turn = group_turn  # type: ignore[method-assign]

    async def call(*args: Any, **kwargs: Any) -> Any:
        return {"args": args, "kwargs": kwargs}

    result = await limiter.process_request(call, (1, 2), {"k": 3}, "sendMessage", data, None)
    return result, ran


async def test_a_private_reply_skips_ptbs_limiter_and_a_group_reply_does_not() -> None:
    limiter = ReplyRateLimiter(overall_max_rate=0)
    await limiter.initialize()
    expected = {"args": (1, 2), "kwargs": {"k": 3}}
    assert await _through(limiter, {"chat_id": 42}) == (expected, 0)
    assert await _through(limiter, {"callback_query_id": "q"}) == (expected, 0)
    assert await _through(limiter, {"chat_id": -100123}) == (expected, 1)  # 20 a minute
    assert await _through(limiter, {"chat_id": "@channel"}) == (expected, 1)
    paced = ReplyRateLimiter(overall_max_rate=30)  # an overall rate: every chat through it
    await paced.initialize()
    assert await _through(paced, {"chat_id": 42}) == (expected, 1)


def test_the_chatless_guard_matches_buttons_on_inline_messages_only() -> None:
    fake = FakeTelegram()
    fake.add_user(7)
    bot = ExtBot("123:abc")
    handler = ChatlessButtonHandler(chatless_button)
    message = Update.de_json(fake.build_message(7, "/start"), bot)
    fake.respond("sendMessage", {"chat_id": 7, "text": "pick"})
    in_chat = fake.build_callback(7, "mag:what-to-wear", check=False)
    inline = fake.build_callback(7, "mag:what-to-wear", check=False)
    del inline["callback_query"]["message"]
    inline["callback_query"]["inline_message_id"] = "AAAAAQ"
    assert not handler.check_update(message)
    assert not handler.check_update(Update.de_json(in_chat, bot))
    assert handler.check_update(Update.de_json(inline, bot))
    assert not handler.check_update(object())


def test_leads_built_from_full_rows_equal_those_from_init() -> None:
    row = {f.name: None for f in fields(Lead)}
    row.update(user_id=7, language="en", subscribed=True, stage=Stage.LEAD, started_at=1)
    row.update(updated_at=2, email="a@example.com", timezone="Europe/Paris")
    built, made = _built(Lead, dict(row)), Lead(**row)
    assert built == made and hash(built) == hash(made) and vars(built) == vars(made)
    with pytest.raises(FrozenInstanceError):
        built.email = "b@example.com"  # type: ignore[misc]
    partial = {k: v for k, v in row.items() if k != "timezone"}  # a default left out: __init__
    assert _built(Lead, partial) == Lead(**partial)
    magnet = {f.name: None for f in fields(LeadMagnet)}
    magnet.update(magnet_id="what-to-wear", requested_at=3, answer_fit=False)
    assert _built(LeadMagnet, dict(magnet)) == LeadMagnet(**magnet)


async def test_polled_updates_are_parsed_once_and_kept_as_telegram_sent_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parsed = 0
    parse = Update.de_json.__func__  # type: ignore[attr-defined]

    def counted(cls: type[Update], data: Any, bot: Any = None) -> Update:
        nonlocal parsed
        parsed += 1
        return parse(cls, data, bot)  # type: ignore[no-any-return]

    fake = FakeTelegram()
    fake.add_user(7)
    store = await Store.open(tmp_path / "aimant.sqlite3")
    bot = IntakeBot("123:abc", request=FakeRequest(fake), get_updates_request=FakeRequest(fake))
    bot.attach_store(store)
    try:
        await bot.initialize()
        sent = [fake.message(7, "/start"), fake.message(7, "p7@example.com")]
        poison = fake.raw(POISON)  # set aside, kept as the empty update PTB read instead
        monkeypatch.setattr(Update, "de_json", classmethod(counted))
        updates = await bot.get_updates()
        monkeypatch.undo()
        assert parsed == 4  # each update once (the unreadable one, then its empty stand-in)
        assert [u.update_id for u in updates] == [
            *(s["update_id"] for s in sent),
            poison["update_id"],
        ]
        rows = await store._all("SELECT update_id, payload FROM inbox ORDER BY update_id")
        kept = {r["update_id"]: json.loads(r["payload"]) for r in rows}
        assert kept == {
            **{s["update_id"]: s for s in sent},
            poison["update_id"]: {"update_id": poison["update_id"]},
        }
        for update in updates:  # what a replay reads back is what PTB read
            assert Update.de_json(kept[update.update_id], bot) == update
    finally:
        await bot.shutdown()
        await store.close()
