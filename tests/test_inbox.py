"""The team inbox: what a prospect writes reaches the owners, their answers reach the prospect."""

from __future__ import annotations

import csv
import io
import random
import re
import statistics
from pathlib import Path
from typing import Any

import pytest
from telegram import Update

from bot.inbox.relay import HEADER_SECONDS, GroupPace, is_note, may_answer
from bot.owner.periods import ALL_TIME, Period
from bot.store import Event
from tests import db
from tests.conftest import OWNER, Harness, open_backend_store, stop_harness

pytestmark = pytest.mark.usefixtures("backend")  # every test on SQLite and PostgreSQL


ADA = 1001
SECOND = OWNER + 1
HOUR = 3600


def reply_to(bot: Harness, sent: Any, **kwargs: Any) -> dict[str, Any]:
    """An owner's text replying to one of the bot's messages in their chat."""
    return reply_with(bot, bot.fake.build_message(OWNER, kwargs.pop("text", "ok")), sent)


def reply_with(bot: Harness, update: dict[str, Any], sent: Any) -> dict[str, Any]:
    """Make this owner update a reply to the bot's message `sent`."""
    update["message"]["reply_to_message"] = sent.message
    return update


def owner_photo(bot: Harness, caption: str) -> dict[str, Any]:
    """The owner sends a photo with a caption."""
    return bot.fake.build_photo(OWNER, caption=caption)


async def two_owners(bot_with: Any, fake: Any) -> Harness:
    bot: Harness = await bot_with(owner_ids=[OWNER, SECOND])
    fake.add_user(SECOND, first_name="Second owner")
    return bot


async def test_question_photo_and_voice_reach_every_owner_in_order(
    bot_with: Any, fake: Any
) -> None:
    bot = await two_owners(bot_with, fake)
    await bot.text(ADA, "/start", username="ada_l", last_name="Lovelace")
    await bot.text(ADA, "How much is a wedding shoot?")
    assert bot.last(ADA).text == bot.t("inbox_ack")
    await bot.send(bot.fake.build_photo(ADA, caption="Like <this> one"))
    await bot.send(bot.fake.build_media(ADA, "voice"))
    assert bot.texts(ADA)[-1] == bot.t("inbox_ack")  # acknowledged once, not per message
    header = "💬 \u2068Ada Lovelace\u2069 \u2068@ada_l\u2069 (reply to answer):"
    for owner in (OWNER, SECOND):
        chat = bot.chat(owner)
        # One header, then each copy as a reply to it (its quote names the person).
        assert [s.method for s in chat] == ["sendMessage"] + ["copyMessage"] * 3
        assert chat[0].text == header
        question, photo, voice = chat[1:]
        assert question.text == "How much is a wedding shoot?"
        assert photo.message["photo"] and photo.text == "Like <this> one"  # caption kept
        assert voice.message["voice"]
        assert [c.params["reply_parameters"]["message_id"] for c in chat[1:]] == [
            chat[0].message_id
        ] * 3
    assert await bot.svc.store.team.pending() == 0
    assert await bot.svc.store.count_events(Event.TEAM_IN, ADA) == 3


async def test_every_kind_of_message_is_copied(bot: Harness) -> None:
    await bot.text(ADA, "/start")
    kinds = ["video", "audio", "document", "video_note", "location", "contact", "animation"]
    for kind in kinds:
        await bot.send(bot.fake.build_media(ADA, kind))
    await bot.send(bot.fake.build_sticker(ADA))
    copies = [s for s in bot.chat(OWNER) if s.method == "copyMessage"]
    assert [next(k for k in [*kinds, "sticker"] if k in c.message) for c in copies] == [
        *kinds,
        "sticker",
    ]


async def test_owner_answers_with_a_photo_and_sees_it_delivered(bot: Harness) -> None:
    await bot.text(ADA, "/start")
    await bot.text(ADA, "Do you do pets?")
    copy = bot.last(OWNER)
    answer = reply_with(bot, owner_photo(bot, "Yes! <b>Here</b> is Rex"), copy)
    await bot.send(answer)
    got = bot.last(ADA)
    assert got.method == "copyMessage" and got.message["photo"]
    assert got.text == "Yes! <b>Here</b> is Rex"
    assert bot.fake.reactions[(OWNER, answer["message"]["message_id"])] == ["👍"]
    # Replying to the header works too; the conversation is answered.
    header = bot.chat(OWNER)[-2]
    await bot.send(reply_to(bot, header, text="Any other question?"))
    assert bot.last(ADA).text == "Any other question?"
    assert await bot.svc.store.team.waiting() == []


async def test_a_note_stays_in_the_team(bot: Harness) -> None:
    await bot.text(ADA, "/start")
    await bot.text(ADA, "Hello?")
    before = len(bot.chat(ADA))
    note = reply_to(bot, bot.last(OWNER), text="#note: called her back on Monday")
    await bot.send(note)
    assert len(bot.chat(ADA)) == before
    assert (OWNER, note["message"]["message_id"]) not in bot.fake.reactions
    assert [w.person for w in await bot.svc.store.team.waiting()] == [ADA]  # still waiting


async def test_a_prospect_who_blocked_the_bot(bot: Harness) -> None:
    await bot.text(ADA, "/start")
    await bot.text(ADA, "Hello?")
    copy = bot.last(OWNER)
    bot.fake.block(ADA)
    answer = reply_to(bot, copy, text="Hi Ada!")
    await bot.send(answer)
    told = bot.last(OWNER)
    assert told.text == bot.t("inbox_not_sent_blocked")
    assert told.params["reply_parameters"]["message_id"] == answer["message"]["message_id"]
    lead = await bot.svc.store.leads.get(ADA)
    assert lead is not None and lead.blocked_at is not None


async def test_the_acknowledgement_once_per_inbox_ack_hours(bot_with: Any) -> None:
    bot = await bot_with(inbox_ack_hours=12)
    await bot.text(ADA, "/start")
    await bot.text(ADA, "one")
    await bot.text(ADA, "two")
    bot.clock.now += 11 * HOUR
    await bot.text(ADA, "three")
    assert bot.texts(ADA).count(bot.t("inbox_ack")) == 1
    bot.clock.now += 1 * HOUR
    await bot.text(ADA, "four")
    assert bot.texts(ADA).count(bot.t("inbox_ack")) == 2
    assert [s.text for s in bot.chat(OWNER) if s.method == "copyMessage"] == [
        "one",
        "two",
        "three",
        "four",
    ]


async def test_what_a_step_expects_is_not_for_the_team(bot: Harness) -> None:
    await bot.text(ADA, "/start")
    await bot.tap(ADA, "mag:what-to-wear")
    await bot.send(bot.fake.build_sticker(ADA))
    assert bot.last(ADA).text == bot.t("expect_email")
    await bot.send(bot.fake.build_media(ADA, "voice"))
    assert bot.last(ADA).text == bot.t("expect_email")
    await bot.text(ADA, "ada@example.com")
    await bot.text(ADA, "/plan")  # plan phrases and /contact keep their alerts
    await bot.text(ADA, "/contact see you")
    assert not [s for s in bot.chat(OWNER) if s.method == "copyMessage"]
    assert await bot.svc.store.count_events(Event.TEAM_IN) == 0


async def test_a_replayed_update_is_relayed_once(bot: Harness) -> None:
    await bot.text(ADA, "/start")
    update = bot.fake.build_message(ADA, "Is Saturday possible?")
    await bot.send(update)
    # The process died before the update was marked done: it is handled again.
    await bot.app.process_update(Update.de_json(update, bot.app.bot))
    await bot.relays()
    assert [s.text for s in bot.chat(OWNER) if s.method == "copyMessage"] == [
        "Is Saturday possible?"
    ]
    assert await bot.svc.store.count_events(Event.TEAM_IN) == 1


async def test_relays_wait_for_a_failing_owner_chat_and_keep_their_order(bot: Harness) -> None:
    await bot.text(ADA, "/start")
    bot.fake.fail_next("copyMessage", 500, times=1)
    await bot.text(ADA, "first")
    await bot.text(ADA, "second")  # waits behind the first: never overtakes it
    assert not [s for s in bot.chat(OWNER) if s.method == "copyMessage"]
    assert await bot.svc.store.team.pending() == 2
    bot.clock.now += 2
    await bot.svc.inbox.tick()
    assert [s.text for s in bot.chat(OWNER) if s.method == "copyMessage"] == ["first", "second"]
    # The header went once: the retry copied the message under the same header.
    assert [s.method for s in bot.chat(OWNER)] == ["sendMessage", "copyMessage", "copyMessage"]


async def test_a_header_heads_a_persons_messages_for_ten_minutes(bot: Harness) -> None:
    await bot.text(ADA, "/start", first_name="Ada")
    await bot.text(ADA + 1, "/start", first_name="Bob")
    await bot.text(ADA, "one")
    await bot.text(ADA + 1, "hello")
    await bot.text(ADA, "two")  # Bob's in between: Ada's copy still quotes her own header
    bot.clock.now += HEADER_SECONDS - 1
    await bot.text(ADA, "three")
    bot.clock.now += 1
    await bot.text(ADA, "four")  # ten minutes after her header: a new one
    chat = bot.chat(OWNER)
    ada, bob = ("💬 \u2068Ada\u2069 (reply to answer):", "💬 \u2068Bob\u2069 (reply to answer):")
    assert [s.text for s in chat] == [ada, "one", bob, "hello", "two", "three", ada, "four"]
    quoted = [s.params["reply_parameters"]["message_id"] for s in chat[4:6]]  # two, three
    assert quoted == [chat[0].message_id] * 2
    assert chat[-1].params["reply_parameters"]["message_id"] == chat[-2].message_id
    # Replying to a copy under a reused header answers its person.
    await bot.send(reply_to(bot, chat[5], text="Sure"))
    assert bot.last(ADA).text == "Sure"


async def test_a_429_is_honoured(bot: Harness) -> None:
    await bot.text(ADA, "/start")
    bot.fake.fail_next("copyMessage", 429, times=1, retry_after=1)
    await bot.text(ADA, "hello")
    assert [s.text for s in bot.chat(OWNER) if s.method == "copyMessage"] == ["hello"]


async def test_owners_own_messages_and_unknown_replies(bot: Harness) -> None:
    await bot.text(OWNER, "just testing")
    assert bot.last(OWNER).text == bot.t("fallback")  # owners are not prospects
    await bot.text(OWNER, "/help")
    await bot.send(reply_to(bot, bot.last(OWNER), text="hm"))
    assert bot.last(OWNER).text == bot.t("relay_not_lead")


async def test_no_seven_day_limit(bot: Harness) -> None:
    await bot.text(ADA, "/start")
    await bot.text(ADA, "Hi")
    await bot.send(reply_to(bot, bot.last(OWNER), text="Hello!"))
    bot.clock.now += 30 * 86400
    await bot.text(ADA, "Back again, a month later")
    assert bot.last(OWNER).text == "Back again, a month later"


async def test_unsubscribed_people_are_answered_only_after_writing(bot: Harness) -> None:
    await bot.text(ADA, "/start")
    await bot.tap(ADA, "mag:what-to-wear")
    await bot.text(ADA, "ada@example.com")
    await bot.tap(ADA, "ans:what-to-wear:family")
    await bot.text(ADA, "Hi")
    copy = bot.last(OWNER)
    bot.clock.now += 60
    await bot.text(ADA, "/stop")
    before = len(bot.chat(ADA))
    await bot.send(reply_to(bot, copy, text="Still there?"))
    assert bot.last(OWNER).text.startswith("Not sent:")
    assert len(bot.chat(ADA)) == before
    bot.clock.now += 60
    await bot.text(ADA, "Actually, one question")
    await bot.send(reply_to(bot, bot.last(OWNER), text="Sure!"))
    assert bot.last(ADA).text == "Sure!"


async def test_inbox_counts(bot: Harness) -> None:
    await bot.text(ADA, "/start")
    await bot.text(ADA, "Hi")
    await bot.text(ADA + 1, "/start")
    await bot.text(ADA + 1, "Hello")
    bot.clock.now += 600
    await bot.send(reply_to(bot, bot.last(OWNER), text="Hello to you"))
    counts = await bot.svc.store.team.counts(ALL_TIME)
    assert (counts.conversations, counts.answered, counts.median_answer) == (2, 1, 600.0)


def test_rules() -> None:
    assert is_note("#todo call") and is_note("  #x") and not is_note("Hi #1") and not is_note(None)
    assert may_answer(None, None) and not may_answer(100, 50) and may_answer(100, 100)
    pace = GroupPace()
    for second in range(20):
        assert pace.wait(1000 + second) == 0
        pace.take(1000 + second)
    assert pace.wait(1030) == 30  # the first of the 20 leaves the rolling minute at 1060
    assert pace.wait(1060) == 0


async def test_forget_deletes_the_copies_and_refuses_later_answers(bot: Harness) -> None:
    await bot.text(ADA, "/start")
    await bot.text(ADA, "my number is 0612345678")
    await bot.send(bot.fake.build_photo(ADA, caption="my house"))
    header = bot.chat(OWNER)[0]
    assert await bot.svc.store.team.stored(ADA) == (2, int(bot.clock.now))
    await bot.text(ADA, "/forget")
    await bot.tap_label(ADA, "Yes, erase my data")
    assert [s.text for s in bot.chat(OWNER)] == [bot.t("card_erased")]  # the header redacted
    assert await bot.svc.store.team.stored(ADA) == (0, None)
    await bot.send(reply_to(bot, header, text="Hello?"))
    assert bot.last(OWNER).text == bot.t("inbox_not_sent_erased")


# ----- the inbox group: one forum topic per person -----------------------------------------

GROUP = -1001234567890
TEAM = 700001  # a team member who is not an owner


async def group_bot(bot_with: Any, fake: Any, **settings: Any) -> Harness:
    fake.add_forum(GROUP)
    bot: Harness = await bot_with(inbox_chat_id=GROUP, **settings)
    return bot


def in_topic(bot: Harness, thread: int, text: str | None = None, **kwargs: Any) -> Any:
    """A team member writes in a topic of the inbox group."""
    return bot.fake.build_group_message(GROUP, TEAM, text, thread=thread, **kwargs)


async def test_a_topic_per_person_with_their_card_and_messages(bot_with: Any, fake: Any) -> None:
    bot = await group_bot(bot_with, fake)
    await bot.text(ADA, "/start instagram", username="ada_l", last_name="Lovelace")
    await bot.text(ADA, "How much is a wedding shoot?")
    await bot.send(bot.fake.build_photo(ADA, caption="this one"))
    await bot.send(bot.fake.build_media(ADA, "voice"))
    [(thread, title)] = fake.topics[GROUP].items()
    assert title == "\u2068Ada Lovelace\u2069 \u2068@ada_l\u2069"
    card, *copies = bot.chat(GROUP)
    assert card.text.startswith("💬 New conversation") and "Source: instagram" in card.text
    assert [c.text for c in copies] == ["How much is a wedding shoot?", "this one", ""]
    assert copies[2].message["voice"]
    assert {s.message["message_thread_id"] for s in bot.chat(GROUP)} == {thread}
    assert bot.chat(OWNER) == []  # the group is the inbox: nothing in private
    # Any member answers by writing in the topic, with any media; #notes stay.
    answer = in_topic(bot, thread, "Here are our prices", photo=True)
    await bot.send(answer)
    assert bot.last(ADA).method == "copyMessage" and bot.last(ADA).message["photo"]
    assert bot.fake.reactions[(GROUP, answer["message"]["message_id"])] == ["👍"]
    before = len(bot.chat(ADA))
    await bot.send(in_topic(bot, thread, "#she prefers evenings"))
    await bot.send(bot.fake.build_group_message(GROUP, TEAM, "lunch?"))  # the General topic
    assert len(bot.chat(ADA)) == before
    # A second person gets their own topic; a hot lead's alert goes into theirs, 🔥 in the title.
    await bot.text(ADA + 1, "/start", first_name="Bob")
    await bot.text(ADA + 1, "Hello")
    await bot.text(ADA, "/plan")
    assert sorted(fake.topics[GROUP].values()) == [
        "\u2068Bob\u2069",
        "🔥 \u2068Ada Lovelace\u2069 \u2068@ada_l\u2069",
    ]
    alert = bot.last(GROUP)
    assert "Ready to talk" in alert.text and alert.message["message_thread_id"] == thread
    assert [label for label, _ in alert.buttons[0]] == ["✅ Contacted", "🏆 Won"]


async def test_a_topic_deleted_by_hand_is_opened_again(bot_with: Any, fake: Any) -> None:
    bot = await group_bot(bot_with, fake)
    await bot.text(ADA, "/start")
    await bot.text(ADA, "first")
    [thread] = fake.topics[GROUP]
    fake.topics[GROUP].clear()  # someone deleted the topic in Telegram
    await bot.text(ADA, "second")
    [again] = fake.topics[GROUP]
    assert again != thread
    last = bot.last(GROUP)
    assert last.text == "second" and last.message["message_thread_id"] == again
    await bot.send(in_topic(bot, again, "Got it"))
    assert bot.last(ADA).text == "Got it"


async def test_the_bot_removed_from_the_group_relays_wait(bot_with: Any, fake: Any) -> None:
    bot = await group_bot(bot_with, fake)
    await bot.text(ADA, "/start")
    fake.kick(GROUP)
    await bot.text(ADA, "one")
    await bot.text(ADA, "two")
    assert bot.texts(OWNER) == [
        bot.t("inbox_group_refuses", reason="Forbidden: bot was kicked from the supergroup chat")
    ]  # told once, in private
    assert await bot.svc.store.team.pending() == 2
    fake._kicked.clear()  # added back
    for _ in range(5):
        bot.clock.now += 300
        await bot.svc.inbox.tick()
    assert [s.text for s in bot.chat(GROUP)][1:] == ["one", "two"]


async def test_the_group_migrated_to_a_supergroup_relays_wait_for_the_new_id(
    bot_with: Any, fake: Any
) -> None:
    # INBOX_CHAT_ID is a plain group's id; turning Topics on upgrades it to a new supergroup.
    old, new = -4100200300, -1004100200300
    fake.add_chat({"id": old, "type": "group", "title": "Team"})
    bot: Harness = await bot_with(inbox_chat_id=old)
    told = [bot.t("inbox_group_refuses", reason="topics are not enabled in the group")]
    assert bot.texts(OWNER) == told  # at start
    fake.migrate(old, new)
    await bot.text(ADA, "/start", first_name="Ada")
    await bot.text(ADA, "one")
    await bot.send(bot.fake.build_photo(ADA, caption="two"))
    await bot.text(ADA, "three")
    refused = "Group migrated to supergroup. New chat id: -1004100200300"
    told.append(bot.t("inbox_group_refuses", reason=f"{refused} (INBOX_CHAT_ID={new})"))
    assert bot.texts(OWNER) == told  # told once more, in private, with the new id
    assert await bot.svc.store.team.pending() == 3  # waiting, none lost
    for _ in range(3):
        bot.clock.now += 300
        await bot.svc.inbox.tick()
    assert bot.texts(OWNER) == told and await bot.svc.store.team.pending() == 3
    # The owner sets INBOX_CHAT_ID to the new id and restarts: the waiting relays go there.
    await stop_harness(bot)
    bot = await bot_with(inbox_chat_id=new)
    assert bot.texts(OWNER) == told  # the new group works: nothing more to say
    await bot.svc.inbox.tick()
    [(thread, title)] = fake.topics[new].items()
    assert title == "\u2068Ada\u2069"
    card, *copies = bot.chat(new)
    assert card.text.startswith("💬 New conversation")
    assert [c.text for c in copies] == ["one", "two", "three"] and copies[1].message["photo"]
    assert {c.message["message_thread_id"] for c in bot.chat(new)} == {thread}
    assert await bot.svc.store.team.pending() == 0 and bot.chat(old) == []
    # Answers in the new group's topic reach the person.
    await bot.send(bot.fake.build_group_message(new, TEAM, "Hello Ada", thread=thread))
    assert bot.last(ADA).text == "Hello Ada"
    await bot.text(ADA, "four")
    assert bot.last(new).text == "four" and bot.last(new).message["message_thread_id"] == thread


async def test_fifty_messages_in_a_minute_are_paced_into_the_group(
    bot_with: Any, fake: Any
) -> None:
    bot = await group_bot(bot_with, fake)
    fake.strict()
    await bot.text(ADA, "/start")
    for n in range(50):
        await bot.text(ADA, f"message {n}")
        bot.clock.now += 1.2
    for _ in range(10):
        bot.clock.now += 20
        await bot.svc.inbox.tick()
    copies = [s.text for s in bot.chat(GROUP) if s.method == "copyMessage"]
    assert copies == [f"message {n}" for n in range(50)]  # all, in order
    sends = ("createForumTopic", "sendMessage", "copyMessage")
    into_group = [c for c in fake.calls if c.params.get("chat_id") == GROUP and c.method in sends]
    assert not [c for c in into_group if c.status == 429]
    times = sorted(c.at for c in into_group if c.status == 200)
    assert max(sum(1 for u in times if t <= u < t + 60) for t in times) <= 20

    assert times[-1] - times[0] >= 120  # 52 messages (topic, card, 50 copies): over 2 minutes


async def test_forget_deletes_the_topic(bot_with: Any, fake: Any) -> None:
    bot = await group_bot(bot_with, fake)
    await bot.text(ADA, "/start")
    await bot.text(ADA, "my number is 0612345678")
    assert fake.topics[GROUP]
    await bot.text(ADA, "/forget")
    await bot.tap_label(ADA, "Yes, erase my data")
    assert fake.topics[GROUP] == {} and bot.chat(GROUP) == []
    assert await bot.svc.store.team.stored(ADA) == (0, None)


async def test_commands_in_the_group_do_nothing(bot_with: Any, fake: Any) -> None:
    bot = await group_bot(bot_with, fake)
    await bot.text(ADA, "/start")
    await bot.text(ADA, "Hi")
    [thread] = fake.topics[GROUP]
    before = len(bot.chat(GROUP)), len(bot.chat(ADA))
    await bot.send(in_topic(bot, thread, "/stats"))  # owner commands work in private only
    assert (len(bot.chat(GROUP)), len(bot.chat(ADA))) == before


def test_the_fake_models_forum_topics(fake: Any) -> None:
    fake.add_forum(GROUP)
    fake.add_chat({"id": -100555, "type": "supergroup", "title": "No topics"})
    status, body = fake.handle("createForumTopic", {"chat_id": -100555, "name": "Ada"})
    assert (status, body["description"]) == (400, "Bad Request: the chat is not a forum")
    status, body = fake.handle("createForumTopic", {"chat_id": GROUP, "name": "Ada"})
    thread = body["result"]["message_thread_id"]
    status, body = fake.handle(
        "sendMessage", {"chat_id": GROUP, "text": "hi", "message_thread_id": thread}
    )
    assert body["result"]["is_topic_message"] and body["result"]["message_thread_id"] == thread
    status, body = fake.handle(
        "sendMessage", {"chat_id": GROUP, "text": "hi", "message_thread_id": thread + 99}
    )
    assert (status, body["description"]) == (400, "Bad Request: message thread not found")
    update = fake.build_group_message(GROUP, TEAM, "hello", thread=thread)
    written = update["message"]
    assert written["is_topic_message"] and written["message_thread_id"] == thread
    status, body = fake.handle(
        "copyMessage",
        {"chat_id": ADA, "from_chat_id": GROUP, "message_id": update["message"]["message_id"]},
    )
    assert status == 400  # ADA never opened the bot: chat not found
    fake.add_user(ADA)
    status, body = fake.handle(
        "copyMessage",
        {"chat_id": ADA, "from_chat_id": GROUP, "message_id": update["message"]["message_id"]},
    )
    assert set(body["result"]) == {"message_id"}  # a MessageId, not a Message
    assert "message_thread_id" not in fake.last_to(ADA).message
    deleted = fake.handle("deleteForumTopic", {"chat_id": GROUP, "message_thread_id": thread})
    assert deleted[0] == 200
    assert fake.sent_to(GROUP) == []


async def test_inbox_lists_who_waits_oldest_first_with_done_buttons(bot: Harness) -> None:
    await bot.text(ADA, "/start", last_name="Lovelace")
    await bot.text(ADA, "first question")
    bot.clock.now += 3 * HOUR + 5 * 60
    await bot.text(ADA + 1, "/start", first_name="Bob")
    await bot.text(ADA + 1, "hello")
    await bot.text(ADA + 1, "anyone?")
    bot.clock.now += 10 * 60
    await bot.text(OWNER, "/inbox")
    shown = bot.last(OWNER)
    assert shown.text.split("\n")[:3] == [
        "📥 Waiting for an answer (2), oldest first",
        "1. \u2068Ada Lovelace\u2069: waiting 3 h 15 min, 1 message",
        "2. \u2068Bob\u2069: waiting 10 min, 2 messages",
    ]
    assert [label for label, _ in shown.buttons[0]] == ["✓ 1", "✓ 2"]
    await bot.tap(ADA, f"inb:{ADA}", message_id=None)  # not an owner: an unknown button
    assert bot.fake.answered_callbacks[-1].text == bot.t("button_expired")
    await bot.tap(OWNER, f"inb:{ADA}", message_id=shown.message_id)
    assert shown.text.split("\n")[1] == "1. \u2068Bob\u2069: waiting 10 min, 2 messages"
    # An answer ends the wait too; a new message starts a new one.
    bob_copy = next(s for s in reversed(bot.chat(OWNER)) if s.text == "anyone?")
    await bot.send(reply_to(bot, bob_copy, text="Yes!"))
    await bot.text(OWNER, "/inbox")
    assert bot.last(OWNER).text == "📥 Nobody is waiting for an answer."
    await bot.text(ADA, "still there?")
    assert [w.person for w in await bot.svc.store.team.waiting()] == [ADA]


async def test_inbox_links_each_topic(bot_with: Any, fake: Any) -> None:
    bot = await group_bot(bot_with, fake)
    await bot.text(ADA, "/start")
    await bot.text(ADA, "hi")
    [thread] = fake.topics[GROUP]
    await bot.text(OWNER, "/inbox")
    assert f'<a href="https://t.me/c/1234567890/{thread}">topic</a>' in bot.last(OWNER).html


async def test_stats_and_mydata_show_the_inbox(bot: Harness) -> None:
    await bot.text(ADA, "/start")
    await bot.text(ADA, "hi")
    await bot.text(ADA, "are you there?")
    bot.clock.now += 2 * HOUR
    await bot.send(reply_to(bot, bot.last(OWNER), text="Yes"))
    await bot.text(ADA + 1, "/start")
    await bot.text(ADA + 1, "hello")
    await bot.text(OWNER, "/stats")
    text = next(s.text for s in reversed(bot.chat(OWNER)) if "Conversations" in s.text)
    assert "Conversations: 2 · 0 · 2" in text
    assert "Answered: 50% · - · 50%" in text
    assert "Median time to first answer: 2 h 0 min · - · 2 h 0 min" in text
    assert "Conversations, By source\n• (direct): 2 conversations, 50% answered" in text
    await bot.text(ADA, "/mydata")
    assert "Messages to the team: 2 since" in bot.last(ADA).text


async def test_a_group_without_topics_is_reported_at_start(bot_with: Any, fake: Any) -> None:
    fake.add_chat({"id": GROUP, "type": "supergroup", "title": "Team"})
    bot = await bot_with(inbox_chat_id=GROUP)
    assert bot.texts(OWNER) == [
        bot.t("inbox_group_refuses", reason="topics are not enabled in the group")
    ]
    await bot.text(ADA, "/start")
    await bot.text(ADA, "hello")
    assert await bot.svc.store.team.pending() == 1  # waits for the group to be fixed


def test_the_preview_shows_the_team_side(tmp_path: Any) -> None:
    from tests.test_preview import run

    out = run(
        tmp_path,
        [":team hello", "/start", "Do you shoot weddings?", ":sticker", ":team Yes, we do!",
         ":quit"],
    )  # fmt: skip
    assert "(nothing relayed to the team yet" in out
    assert "bot #2: Thanks! The team reads every message and will answer you here." in out
    assert "[to owner] bot #2: Do you shoot weddings?" in out
    assert "[to owner] bot #3: [sticker]" in out  # under the same header
    assert re.search(r"\nyou> bot #\d+: Yes, we do!", out)  # in the prospect's chat


async def test_the_export_shows_the_last_message_and_the_wait(bot: Harness) -> None:
    from bot.owner.export import export_csv

    await bot.text(ADA, "/start")
    await bot.text(ADA, "hi")
    bot.clock.now += HOUR
    await bot.text(ADA, "hello?")
    await bot.text(ADA + 1, "/start")
    data, _ = await export_csv(bot.svc)
    rows = {r["person"]: r for r in csv.DictReader(io.StringIO(data.decode("utf-8-sig")))}
    ada, other = rows[str(ADA)], rows[str(ADA + 1)]
    assert (ada["last_message"], ada["waiting_since"]) == ("2026-09-21 17:13", "2026-09-21 16:13")
    assert (other["last_message"], other["waiting_since"]) == ("", "")
    await bot.send(reply_to(bot, bot.last(OWNER), text="Here!"))
    data, _ = await export_csv(bot.svc)
    rows = {r["person"]: r for r in csv.DictReader(io.StringIO(data.decode("utf-8-sig")))}
    assert rows[str(ADA)]["waiting_since"] == ""


async def test_an_owner_marks_contacted_and_won_from_the_topic(bot_with: Any, fake: Any) -> None:
    bot = await group_bot(bot_with, fake)
    await bot.text(ADA, "/start")
    await bot.text(ADA, "hi")
    card = bot.chat(GROUP)[0]
    for who, data in ((TEAM, f"own:c:{ADA}"), (OWNER, f"own:c:{ADA}"), (OWNER, f"own:w:{ADA}")):
        press = fake.build_callback(who, data, message_id=card.message_id, chat_id=GROUP)
        await bot.send(press)
    assert bot.fake.answered_callbacks[0].text == bot.t("button_expired")  # owners only
    lead = await bot.svc.store.leads.get(ADA)
    assert lead is not None and lead.contacted_at and lead.won_at
    assert "Stage: customer, contacted" in card.text  # the card in the topic, redrawn


Row = tuple[int, int, str, str | None]  # at, person, kind, source or wait


def _random_team_log(rng: random.Random) -> list[Row]:
    """300 people: a start (a source or none), 0-3 messages, 0-2 answers (never in the same
    second), some outside the period tested."""
    rows: list[Row] = []
    for person in range(1, 301):
        if rng.random() < 0.9:
            rows.append((rng.randrange(50), person, "start", rng.choice(["a", "b", None])))
        rows += [(rng.randrange(100), person, "team_in", None) for _ in range(rng.randrange(4))]
        for at in rng.sample(range(100), rng.randrange(3)):
            rows.append((at, person, "team_answer", str(rng.randrange(999))))
    return rows


def _expected(rows: list[Row], period: Period, owners: set[int]) -> Any:
    """team_counts and team_by_source by their definitions, in Python."""
    inside = [r for r in rows if period.start <= r[0] < period.end and r[1] not in owners]
    talked = {r[1] for r in inside if r[2] == "team_in"}
    answered = {r[1] for r in inside if r[2] == "team_answer"} & talked
    firsts = {
        p: int(min(r for r in inside if r[1] == p and r[2] == "team_answer")[3] or 0)
        for p in answered
    }
    waits = sorted(firsts.values())
    median = float(statistics.median(waits)) if waits else None
    source = {r[1]: r[3] for r in rows if r[2] == "start"}
    table: dict[str | None, list[int]] = {}
    for person in talked & source.keys():
        table.setdefault(source[person], [0, 0])[0] += 1
        table[source[person]][1] += person in answered
    by_source = sorted(
        ((s, n, a) for s, (n, a) in table.items()), key=lambda r: (-r[1], r[0] or "")
    )
    return (len(talked), len(waits), median), by_source


async def test_team_kpis_follow_their_definitions(tmp_path: Path, backend: dict[str, Any]) -> None:
    store = await open_backend_store(tmp_path, backend)
    await store.set_owners([7, 8])
    rows = _random_team_log(random.Random(3))
    db.write_many(
        store,
        "INSERT INTO events (at, person, kind, source, value) VALUES (?, ?, ?, ?, ?)",
        [
            (at, p, k, v if k == "start" else None, v if k != "start" else None)
            for at, p, k, v in rows
        ],
    )
    for period in (ALL_TIME, Period("x", 20, 60), Period("y", 60, 61), Period("z", 500, 600)):
        counts = await store.team.counts(period)
        expected, by_source = _expected(rows, period, {7, 8})
        assert (counts.conversations, counts.answered, counts.median_answer) == expected
        got = await store.team.by_source(period)
        assert sorted(got, key=lambda r: (-r[1], r[0] or "")) == by_source
    await store.close()
