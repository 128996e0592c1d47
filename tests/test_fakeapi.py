"""Tests for the fake Telegram Bot API (tests.fakeapi), driven through PTB where possible."""

from __future__ import annotations

import asyncio
import copy
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, InputMediaDocument, Update
from telegram.error import (
    BadRequest,
    ChatMigrated,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    RetryAfter,
    TimedOut,
)
from telegram.ext import ApplicationBuilder, CallbackQueryHandler, CommandHandler, ContextTypes

from tests.fakeapi import FakeRequest, FakeTelegram, FakeTelegramServer
from tests.fakeapi.limits import Window

USER = 42
TOKEN = "123:ABC"


class Clock:
    """A settable clock, so dates and rate limits are deterministic."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fake(clock: Clock) -> FakeTelegram:
    fake = FakeTelegram(clock=clock)
    fake.add_user(USER, first_name="Bob", username="bob")
    return fake


@pytest.fixture
async def bot(fake: FakeTelegram) -> AsyncIterator[Bot]:
    async with Bot(TOKEN, request=FakeRequest(fake), get_updates_request=FakeRequest(fake)) as b:
        yield b


def keyboard(*buttons: tuple[str, str]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(t, callback_data=d)] for t, d in buttons])


# ----- answers and recording ----------------------------------------------------------------


async def test_get_me_and_send_message(bot: Bot, fake: FakeTelegram, clock: Clock) -> None:
    assert bot.username == "aimant_test_bot"
    first = await bot.send_message(USER, "<b>Hello</b> &amp; welcome", parse_mode="HTML")
    second = await bot.send_message(USER, "Plain")
    assert (first.message_id, second.message_id) == (1, 2)
    assert first.text == "Hello & welcome"
    assert first.entities[0].type == "bold" and first.entities[0].length == 5
    assert first.chat.first_name == "Bob" and first.chat.type == "private"
    assert first.from_user is not None and first.from_user.id == fake.bot_id
    assert first.date.timestamp() == int(clock.now)
    sent = fake.last_to(USER)
    assert (sent.text, sent.method) == ("Plain", "sendMessage")
    assert fake.sent_to(USER)[0].html == "<b>Hello</b> &amp; welcome"
    assert fake.texts_to(USER) == ["Hello & welcome", "Plain"]
    assert [c.method for c in fake.calls] == ["getMe", "sendMessage", "sendMessage"]
    assert fake.violations == []


async def test_document_upload_then_resend_by_file_id(bot: Bot, fake: FakeTelegram) -> None:
    first = await bot.send_document(
        USER,
        b"%PDF-1.4 guide",
        filename="guide.pdf",
        caption="Your <i>guide</i>",
        parse_mode="HTML",
    )
    doc = first.document
    assert doc is not None
    assert (doc.file_name, doc.mime_type, doc.file_size) == ("guide.pdf", "application/pdf", 14)
    assert first.caption == "Your guide"
    again = await bot.send_document(USER, doc.file_id)
    assert again.document is not None and again.document.file_unique_id == doc.file_unique_id
    sent = fake.sent_to(USER)
    assert [s.document for s in sent] == ["guide.pdf", "guide.pdf"]
    assert sent[1].document_bytes == b"%PDF-1.4 guide"
    assert fake.calls[1].files["document"] == ("guide.pdf", b"%PDF-1.4 guide")
    downloaded = await (await bot.get_file(doc.file_id)).download_as_bytearray()
    assert bytes(downloaded) == b"%PDF-1.4 guide"
    with pytest.raises(BadRequest, match=r"(?i)wrong file identifier"):
        await bot.send_document(USER, "no-such-file-id")
    assert fake.violations == [
        "sendDocument: Bad Request: wrong file identifier/HTTP URL specified"
    ]


async def test_media_group_and_copy(bot: Bot, fake: FakeTelegram) -> None:
    docs = [InputMediaDocument(b"a", filename="a.pdf"), InputMediaDocument(b"b", filename="b.pdf")]
    sent = await bot.send_media_group(USER, docs, caption="<b>Both</b>", parse_mode="HTML")
    assert [m.document.file_name for m in sent if m.document] == ["a.pdf", "b.pdf"]
    copied = await bot.copy_message(USER, USER, sent[1].message_id)
    assert copied.message_id == 3
    assert [s.document for s in fake.sent_to(USER)] == ["a.pdf", "b.pdf", "b.pdf"]
    assert fake.texts_to(USER) == ["Both", "", ""]


async def test_buttons_callback_and_edit_in_place(bot: Bot, fake: FakeTelegram) -> None:
    markup = InlineKeyboardMarkup(
        [
            [InlineKeyboardButton("Get it", callback_data="get:1")],
            [InlineKeyboardButton("Site", url="https://example.org")],
        ]
    )
    msg = await bot.send_message(USER, "Pick one", reply_markup=markup)
    assert msg.reply_markup == markup
    sent = fake.last_to(USER)
    assert sent.buttons == [[("Get it", "get:1")], [("Site", "https://example.org")]]
    update = Update.de_json(fake.build_press(USER, "Get it"), bot)
    query = update.callback_query
    assert query is not None and query.data == "get:1"
    assert query.message is not None and query.message.message_id == msg.message_id
    await query.answer("Done", show_alert=True)
    assert [tuple(a) for a in fake.answered_callbacks] == [(query.id, "Done", True)]
    with pytest.raises(BadRequest, match=r"(?i)query is too old"):
        await query.answer()  # a query can be answered only once
    await bot.edit_message_text("Picked", chat_id=USER, message_id=msg.message_id)
    assert fake.texts_to(USER) == ["Picked"] and sent.buttons == [] and sent.edits == 1
    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await bot.edit_message_text("Picked", chat_id=USER, message_id=msg.message_id)
    with pytest.raises(LookupError):
        fake.build_callback(USER, "not-a-button")


# ----- rejections ---------------------------------------------------------------------------

Action = Callable[[Bot], Awaitable[Any]]
REJECTED: dict[str, tuple[Action, str]] = {
    "missing required": (
        lambda b: b.do_api_request("sendMessage", api_kwargs={"chat_id": USER}),
        'parameter "text" is required',
    ),
    "unknown field": (
        lambda b: b.send_message(USER, "x", api_kwargs={"colour": "red"}),
        'unknown parameter "colour"',
    ),
    "wrong type": (
        lambda b: b.do_api_request("sendMessage", api_kwargs={"chat_id": [1], "text": "x"}),
        'field "chat_id" must be of type Integer or String',
    ),
    "nested unknown field": (
        lambda b: b.do_api_request(
            "sendMessage",
            api_kwargs={
                "chat_id": USER,
                "text": "x",
                "reply_markup": {"inline_keyboard": [[{"text": "a", "callback": "x"}]]},
            },
        ),
        'unknown field "reply_markup.inline_keyboard[0][0].callback"',
    ),
    "bad scope subtype": (
        lambda b: b.set_my_commands([("start", "Start")], api_kwargs={"scope": {"type": "chatt"}}),
        'field "scope.type" must be one of default',
    ),
    "text 4097": (lambda b: b.send_message(USER, "x" * 4097), "message is too long"),
    "empty text": (lambda b: b.send_message(USER, "  "), "message text is empty"),
    "caption 1025": (
        lambda b: b.send_document(USER, b"x", filename="a.pdf", caption="c" * 1025),
        "message caption is too long",
    ),
    "callback_data 65 bytes": (
        lambda b: b.send_message(USER, "x", reply_markup=keyboard(("a", "é" * 32 + "x"))),
        "BUTTON_DATA_INVALID",
    ),
    "html div": (
        lambda b: b.send_message(USER, "<div>x</div>", parse_mode="HTML"),
        'can\'t parse entities: Unsupported start tag "div"',
    ),
    "html unclosed b": (
        lambda b: b.send_message(USER, "<b>bold", parse_mode="HTML"),
        "can't parse entities: Can't find end tag corresponding to start tag \"b\"",
    ),
    "html bare <": (
        lambda b: b.send_message(USER, "1 < 2", parse_mode="HTML"),
        "can't parse entities: Unclosed start tag",
    ),
    "html bare &": (
        lambda b: b.send_message(USER, "R&D", parse_mode="HTML"),
        'can\'t parse entities: Unescaped "&"',
    ),
    "span without spoiler class": (
        lambda b: b.send_message(USER, '<span class="x">y</span>', parse_mode="HTML"),
        'Tag "span" must have class "tg-spoiler"',
    ),
    "chat not found": (lambda b: b.send_message(999, "hi"), "chat not found"),
}


@pytest.mark.filterwarnings("ignore:Please use 'Bot")  # do_api_request of a known method
@pytest.mark.parametrize("case", list(REJECTED))
async def test_rejections_raise_bad_request(bot: Bot, fake: FakeTelegram, case: str) -> None:
    action, problem = REJECTED[case]
    with pytest.raises(BadRequest) as caught:
        await action(bot)
    # PTB strips "Bad Request: " and capitalizes the rest, so compare case-insensitively.
    assert problem.lower() in str(caught.value).lower()
    assert len(fake.violations) == 1 and problem in fake.violations[0]
    assert fake.calls[-1].status == 400
    assert fake.calls[-1].response["ok"] is False


async def test_unknown_method_is_404(bot: Bot, fake: FakeTelegram) -> None:
    # PTB maps any 404 to InvalidToken; do_api_request on an initialized bot re-raises it as
    # EndPointNotFound. Neither is a BadRequest.
    with pytest.raises(EndPointNotFound):
        await bot.do_api_request("sendNonsense", api_kwargs={"chat_id": USER})
    with pytest.raises(InvalidToken):
        await bot._post("sendNonsense", {"chat_id": USER})
    assert fake.calls[-1].response == {"ok": False, "error_code": 404, "description": "Not Found"}
    assert fake.violations == ["sendNonsense: Not Found"] * 2


@pytest.mark.parametrize("spec", [True, False], ids=["spec", "spec-less"])
def test_what_a_caller_got_cannot_change_what_the_fake_holds(spec: bool, clock: Clock) -> None:
    fake = FakeTelegram(clock=clock) if spec else FakeTelegram(spec_path=None, clock=clock)
    fake.add_user(USER, first_name="Bob", username="bob")
    markup = {"inline_keyboard": [[{"text": "Go", "callback_data": "go"}]]}
    params = {"chat_id": USER, "text": "<b>hi</b>", "parse_mode": "HTML", "reply_markup": markup}
    status, body = fake.handle("sendMessage", params)
    assert status == 200
    recorded = copy.deepcopy(fake.calls[-1])
    body["result"]["text"] = "changed"
    body["result"]["entities"].clear()
    body["result"]["reply_markup"]["inline_keyboard"][0][0]["callback_data"] = "stop"
    body["result"]["chat"]["first_name"] = "Eve"
    markup["inline_keyboard"][0].append({"text": "Extra", "callback_data": "x"})
    sent = fake.last_to(USER)
    assert fake.calls[-1] == recorded
    assert sent.message == recorded.response["result"] and sent.buttons == [[("Go", "go")]]
    chat = fake.handle("getChat", {"chat_id": USER})[1]["result"]
    assert chat["first_name"] == "Bob"
    fake.calls[-1].response["result"]["accepted_gift_types"]["unique_gifts"] = True  # a record
    assert fake.handle("getChat", {"chat_id": USER})[1]["result"] == chat

    update = fake.build_callback(USER, "go")
    update["callback_query"]["message"]["text"] = "changed"
    status, body = fake.handle(
        "editMessageReplyMarkup", {"chat_id": USER, "message_id": sent.message_id}
    )
    assert status == 200 and body["result"]["text"] == "hi"  # the markup went, the text stayed
    body["result"]["text"] = "changed"
    assert fake.last_to(USER).message["text"] == "hi" and "reply_markup" not in sent.message

    queued = fake.message(USER, "/start")
    queued["message"]["text"] = "changed"
    fake.pending_updates[0]["message"]["text"] = "changed too"
    status, body = fake.handle("getUpdates", {"timeout": 0})
    body["result"][0]["message"]["text"] = "changed"
    copied = fake.handle(
        "copyMessage",
        {"chat_id": USER, "from_chat_id": USER, "message_id": queued["message"]["message_id"]},
    )
    assert copied[0] == 200 and fake.last_to(USER).text == "/start"
    assert fake.handle("getUpdates", {"timeout": 0})[1]["result"][0]["message"]["text"] == "/start"


async def test_method_names_are_case_insensitive(fake: FakeTelegram) -> None:
    status, body = fake.handle("SENDMESSAGE", {"chat_id": str(USER), "text": "hi"})
    assert status == 200 and body["result"]["text"] == "hi"
    assert fake.calls[-1].method == "sendMessage"


async def test_valid_html_is_accepted(bot: Bot, fake: FakeTelegram) -> None:
    html = (
        "<b>b</b><strong>s</strong><i>i</i><em>e</em><u>u</u><ins>n</ins><s>s</s><strike>k</strike>"
        '<del>d</del><span class="tg-spoiler">p</span><tg-spoiler>q</tg-spoiler>'
        '<a href="https://x.org/?a=1&amp;b=2">l</a><tg-emoji emoji-id="5368324170671202286">👍'
        '</tg-emoji><code>c</code><pre><code class="language-python">x = 1</code></pre>'
        "<blockquote>q</blockquote><blockquote expandable>e</blockquote> &lt;&gt;&quot;&#65;&#x42;"
    )
    msg = await bot.send_message(USER, html, parse_mode="HTML")
    assert (msg.text or "").endswith('<>"AB')
    kinds = {e.type for e in msg.entities}
    assert {"text_link", "custom_emoji", "pre", "expandable_blockquote", "spoiler"} <= kinds
    assert fake.violations == []


# ----- faults -------------------------------------------------------------------------------


async def test_blocked_and_deactivated_are_forbidden(bot: Bot, fake: FakeTelegram) -> None:
    fake.add_user(43)
    fake.block(USER)
    fake.deactivate(43)
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(USER, "hi")
    with pytest.raises(Forbidden, match="user is deactivated"):
        await bot.send_document(43, b"x", filename="a.pdf")
    assert fake.violations == []  # the user's doing, not a bot bug
    fake.unblock(USER)
    await bot.send_message(USER, "hi again")


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
async def test_injected_429_carries_retry_after(bot: Bot, fake: FakeTelegram) -> None:
    fake.fail_next("sendMessage", 429, retry_after=7)
    with pytest.raises(RetryAfter, match="Retry in 7 seconds"):
        await bot.send_message(USER, "hi")
    assert fake.calls[-1].response == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 7",
        "parameters": {"retry_after": 7},
    }
    await bot.send_message(USER, "hi")  # only the next call fails
    assert fake.texts_to(USER) == ["hi"] and fake.violations == []


async def test_a_group_upgraded_to_a_supergroup_names_its_new_id(
    bot: Bot, fake: FakeTelegram
) -> None:
    fake.add_chat({"id": -4100200300, "type": "group", "title": "Team"})
    new = fake.migrate(-4100200300, -1004100200300)
    assert new["type"] == "supergroup" and new["is_forum"]
    for call in (
        bot.send_message(-4100200300, "hi"),
        bot.create_forum_topic(-4100200300, "Ada"),
    ):
        with pytest.raises(ChatMigrated) as raised:
            await call
        assert raised.value.new_chat_id == -1004100200300
    answer = fake.calls[-1].response
    assert answer == {
        "ok": False,
        "error_code": 400,
        "description": "Bad Request: group chat was upgraded to a supergroup chat",
        "parameters": {"migrate_to_chat_id": -1004100200300},
    }
    # ResponseParameters as the Bot API reference defines it.
    assert fake.spec is not None
    fields = {f["name"] for f in fake.spec.types["ResponseParameters"]["fields"]}
    assert set(answer["parameters"]) <= fields
    await bot.send_message(-1004100200300, "hi")  # the new id works
    assert fake.texts_to(-1004100200300) == ["hi"] and fake.violations == []


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
async def test_bulk_rate_limit_uses_the_clock(bot: Bot, fake: FakeTelegram, clock: Clock) -> None:
    fake.bulk_rate = 2
    await bot.send_message(USER, "1")
    await bot.send_message(USER, "2")
    with pytest.raises(RetryAfter):
        await bot.send_message(USER, "3")
    clock.now += 1
    await bot.send_message(USER, "3")
    assert fake.texts_to(USER) == ["1", "2", "3"]


async def test_timeout_after_delivery(fake: FakeTelegram) -> None:
    request = FakeRequest(fake)
    async with Bot(TOKEN, request=request) as bot:
        request.timeout_next(delivered=True)
        with pytest.raises(TimedOut):
            await bot.send_message(USER, "lost answer")
    assert fake.texts_to(USER) == ["lost answer"]  # Telegram did send it


# ----- updates ------------------------------------------------------------------------------


async def test_get_updates_offset_confirms(bot: Bot, fake: FakeTelegram) -> None:
    first = fake.message(USER, "/start promo")
    assert first["message"]["entities"] == [{"type": "bot_command", "offset": 0, "length": 6}]
    fake.message(USER, "two")
    fake.sticker(USER)
    assert [u.update_id for u in await bot.get_updates()] == [1, 2, 3]
    assert fake.confirmed_offset == 0  # nothing confirmed without an offset
    assert [u.update_id for u in await bot.get_updates(offset=2, limit=1)] == [2]
    assert fake.confirmed_offset == 2
    assert [u["update_id"] for u in fake.pending_updates] == [2, 3]
    assert [u.update_id for u in await bot.get_updates(offset=1)] == [2, 3]  # 1 is gone
    assert await bot.get_updates(offset=4) == ()
    assert fake.pending_updates == [] and fake.confirmed_offset == 4


async def test_in_process_long_poll_wakes_on_update(bot: Bot, fake: FakeTelegram) -> None:
    threading.Timer(0.1, fake.message, args=(USER, "ping")).start()
    started = time.monotonic()
    updates = await bot.get_updates(timeout=3)
    assert time.monotonic() - started < 1.5
    assert updates[0].message is not None and updates[0].message.text == "ping"


async def test_application_polling_round_trip(fake: FakeTelegram) -> None:
    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_html(
            "<b>Welcome</b>", reply_markup=keyboard(("Go", "go"))
        )

    async def go(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.callback_query is not None
        await update.callback_query.answer()
        await update.callback_query.edit_message_text("Gone")

    app = (
        ApplicationBuilder()
        .token(TOKEN)
        .request(FakeRequest(fake))
        .get_updates_request(FakeRequest(fake))
        .build()
    )
    app.add_handler(CommandHandler("start", start))
    app.add_handler(CallbackQueryHandler(go))
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=5)
        fake.message(USER, "/start")
        await wait_for(lambda: fake.texts_to(USER) == ["Welcome"])
        fake.press(USER, "Go")
        await wait_for(lambda: fake.texts_to(USER) == ["Gone"])
        await app.updater.stop()
        await app.stop()
    assert len(fake.answered_callbacks) == 1
    assert fake.confirmed_offset == 3 and fake.violations == []


async def wait_for(condition: Callable[[], bool], timeout: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def test_spec_less_fake_keeps_the_limits(clock: Clock) -> None:
    fake = FakeTelegram(spec_path=None, clock=clock)
    fake.add_user(USER)
    status, body = fake.handle(
        "sendMessage", {"chat_id": str(USER), "text": "<b>x", "parse_mode": "HTML"}
    )
    assert status == 400 and "can't parse entities" in body["description"]
    status, body = fake.handle("sendMessage", {"chat_id": str(USER), "text": "ok", "colour": "x"})
    assert status == 200 and body["result"]["chat"]["id"] == USER  # no spec, no field check


# ----- HTTP server --------------------------------------------------------------------------


async def test_http_server_with_real_ptb_bot(fake: FakeTelegram) -> None:
    with FakeTelegramServer(fake) as server:
        bot = Bot(TOKEN, base_url=server.base_url, base_file_url=server.base_file_url)
        async with bot:
            assert bot.username == "aimant_test_bot"
            msg = await bot.send_message(USER, "hi", reply_markup=keyboard(("A", "a")))
            assert msg.text == "hi" and msg.reply_markup == keyboard(("A", "a"))
            doc = await bot.send_document(USER, b"%PDF data", filename="guide.pdf", caption="c")
            assert doc.document is not None and doc.document.file_name == "guide.pdf"
            assert fake.last_to(USER).document_bytes == b"%PDF data"
            file = await bot.get_file(doc.document.file_id)
            assert bytes(await file.download_as_bytearray()) == b"%PDF data"
            with pytest.raises(BadRequest, match=r"(?i)message is too long"):
                await bot.send_message(USER, "x" * 4097)
            threading.Timer(0.2, fake.message, args=(USER, "from another thread")).start()
            started = time.monotonic()
            updates = await bot.get_updates(timeout=3)
            assert time.monotonic() - started < 1.5
            assert [u.message.text for u in updates if u.message] == ["from another thread"]
    assert fake.violations == ["sendMessage: Bad Request: message is too long"]


def test_http_server_json_form_and_get(fake: FakeTelegram) -> None:
    with FakeTelegramServer(fake) as server, httpx.Client() as client:
        url = f"{server.base_url}{TOKEN}"
        as_json = client.post(f"{url}/sendMessage", json={"chat_id": USER, "text": "json"})
        as_form = client.post(f"{url}/sendMessage", data={"chat_id": str(USER), "text": "form"})
        as_get = client.get(f"{url}/getMe")
        unknown = client.post(f"{url}/nope", json={})
    assert as_json.json()["result"]["text"] == "json"
    assert as_form.json()["result"]["text"] == "form"
    assert as_get.json()["result"]["is_bot"] is True
    assert unknown.status_code == 404 and unknown.json()["description"] == "Not Found"


def test_http_server_stop_ends_a_pending_long_poll(fake: FakeTelegram) -> None:
    server = FakeTelegramServer(fake).start()
    answers: list[httpx.Response] = []

    def poll() -> None:
        url = f"{server.base_url}{TOKEN}/getUpdates"
        answers.append(httpx.post(url, data={"timeout": "30"}, timeout=10))

    poller = threading.Thread(target=poll)
    poller.start()
    time.sleep(0.2)
    started = time.monotonic()
    server.stop()
    poller.join(timeout=5)
    assert time.monotonic() - started < 2
    assert answers and answers[0].json() == {"ok": True, "result": []}


def test_a_newer_long_poll_terminates_the_older_one(fake: FakeTelegram) -> None:
    answers: list[tuple[int, dict[str, Any]]] = []
    older = threading.Thread(
        target=lambda: answers.append(fake.handle("getUpdates", {"timeout": 5}))
    )
    older.start()
    time.sleep(0.1)
    assert fake.handle("getUpdates", {"timeout": 0}) == (200, {"ok": True, "result": []})
    older.join(timeout=2)
    assert answers[0][0] == 409 and "terminated by other getUpdates" in answers[0][1]["description"]


@pytest.mark.parametrize("chunked", [False, True])
def test_a_request_cut_off_mid_body_is_never_acted_on(fake: FakeTelegram, chunked: bool) -> None:
    """A bot killed between a request's head and its body: Telegram sees no call."""
    with FakeTelegramServer(fake) as server:
        url = urlsplit(f"{server.base_url}{TOKEN}/sendMessage")
        body = json.dumps({"chat_id": USER, "text": "half"}).encode()
        if chunked:
            framing, rest = b"Transfer-Encoding: chunked", b"%x\r\n%s" % (len(body), body[:10])
        else:
            framing, rest = b"Content-Length: %d" % len(body), body[:10]
        head = b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n%s\r\n\r\n" % (
            url.path.encode(),
            framing,
        )
        with socket.create_connection((url.hostname, url.port)) as sock:
            sock.sendall(head + rest)
            sock.shutdown(socket.SHUT_WR)  # the process is gone: no more bytes
            assert sock.recv(1024) == b""  # closed without an answer
        whole = httpx.post(
            f"{server.base_url}{TOKEN}/sendMessage", json={"chat_id": USER, "text": "whole"}
        )
    assert whole.json()["ok"] is True  # the server still serves the next connection
    assert [c.params.get("text") for c in fake.calls] == ["whole"]
    assert [a.text for a in fake.arrived("sendMessage")] == ["whole"]


def test_a_rolling_window_counts_an_arrival_handled_after_later_ones() -> None:
    """Stamped by the kernel, handled by several threads: the one stamped at 0.9 but handled
    after those at 1.0 and 1.5 still makes three within the second (0.5, 1.5]."""
    window = Window(2, 1.0)
    window.add(1.0)
    window.add(1.5)
    assert window.wait(0.9) > 0
    assert window.wait(0.4) == 0.0  # (−0.6, 0.4] and (0.0, 1.0] hold one each: room
