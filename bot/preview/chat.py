"""`aimant preview`: chat with the bot in the terminal, no token and no network.

The real handlers, store and content run against the in-process stand-in for the Bot API
(bot.preview.standin). Type as a prospect would; `:help` lists the other commands.
"""

from __future__ import annotations

import asyncio
import re
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import TextIO

from pydantic import SecretStr
from telegram import Bot, Update

from bot.app import App, build_application, close_services, open_services, stop_services
from bot.content.catalogue import load_catalogue, parse_delay
from bot.content.texts import load_texts
from bot.outbox.mailer import Mailer
from bot.preview.standin import Sent, StandIn, StandInRequest
from bot.services import Services
from bot.settings import Settings
from bot.store.optin import Mail

PROSPECT, OWNER = 100_001, 100_002
CHATS = {PROSPECT: "prospect", OWNER: "owner"}
PRESS = re.compile(r"#(?:(\d{1,4})\.)?(\d{1,3})")
HELP = """Type messages and /commands as a prospect would. Also:
  #N               press button N of the latest message that has buttons
  #M.N             press button N of message M (the bot's messages are numbered: bot #M)
  :owner           become the owner (try /stats, /leads, /export, /links, /broadcast)
  :prospect        become the prospect again
  :lang fr         the language of your Telegram app (en, fr...)
  :sticker         send a sticker
  :team TEXT       answer as the team: the owner replies TEXT to the latest message relayed
                   from the prospect (what the prospect writes outside a step reaches the team)
  :wait 3d         fast-forward time (s, m, h, d) and let due tips go out
  :help, :quit"""


class PreviewMailer(Mailer):
    """With SMTP settings, the code mails are shown here, never sent: a rehearsal stays offline."""

    def __init__(self, svc: Services, bot: Bot, out: TextIO) -> None:
        super().__init__(svc, bot)
        self.out = out

    async def _deliver(self, mail: Mail) -> None:
        await self.svc.store.optin.claim_mail(mail)  # the daily limit is rehearsed too
        content = self.content(mail)
        attached = f"[attached: {content.attachment.name}]\n" if content.attachment else ""
        print(
            f"--- mail to {content.to} (not sent: preview)\nSubject: {content.subject}\n\n"
            f"{content.body.strip()}\n{attached}---",
            file=self.out,
            flush=True,
        )
        await self.svc.store.optin.mail_sent(mail.id)


class Preview:
    """One terminal session: who you are, the clock, and what you have already seen."""

    def __init__(self, fake: StandIn, app: App, svc: Services, out: TextIO, files: Path):
        self.fake, self.app, self.svc, self.out, self.files = fake, app, svc, out, files
        self.user, self.lang = PROSPECT, "en"
        self.shown: dict[int, dict[int, int]] = {}  # chat -> message id -> edits shown
        self.numbers: dict[int, dict[int, int]] = {}  # chat -> message id -> its number M

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    async def send(self, update: dict[str, object]) -> None:
        parsed = Update.de_json(update, self.app.bot)
        await self.app.update_processor.process_update(parsed, self.app.process_update(parsed))
        running = self.svc.running
        if running and running.inbox:  # relays to and from the team, shown as they happen
            await running.inbox.drain()
        self.show()
        if running and running.mailer:
            await running.mailer.drain()  # the code mail, printed before the next prompt

    def show(self) -> None:
        """Print what the bot sent (or edited) since last time: in your chat, then in the other
        one with a "[to owner]" or "[to prospect]" prefix (alerts and relays as they happen)."""
        for chat in (self.user, *(c for c in CHATS if c != self.user)):
            self.show_chat(chat, "" if chat == self.user else f"[to {CHATS[chat]}] ")

    def show_chat(self, chat: int, prefix: str) -> None:
        """Print one chat's new and edited messages."""
        seen = self.shown.setdefault(chat, {})
        numbers = self.numbers.setdefault(chat, {})
        for sent in self.fake.sent_to(chat):
            if seen.get(sent.message_id) == sent.edits:
                continue
            edited = sent.message_id in seen
            seen[sent.message_id] = sent.edits
            number = numbers.setdefault(sent.message_id, len(numbers) + 1)
            self.render(sent, f"{prefix}bot #{number}" + (" (edited)" if edited else ""))

    def render(self, sent: Sent, label: str) -> None:
        if sent.document and sent.document_bytes is not None:
            path = self.files / sent.document
            path.write_bytes(sent.document_bytes)
            self.say(f"{label}: [document saved to {path}]")
        elif sent.method == "sendPhoto":
            name = self.files / f"photo-{sent.chat_id}-{sent.message_id}.png"
            data = self.fake.file_bytes(sent.message["photo"][-1]["file_id"])
            if data:
                name.write_bytes(data)
            self.say(f"{label}: [picture saved to {name}]")
        elif not sent.text:  # a relayed sticker, voice note, location...: say what it is
            kinds = ("sticker", "voice", "video", "video_note", "audio", "location", "contact")
            kind = next((k for k in kinds if k in sent.message), None)
            if kind:
                self.say(f"{label}: [{kind.replace('_', ' ')}]")
        if sent.text:
            self.say(f"{label}: " + sent.text.replace("\n", "\n     "))
        number = 0
        for row in sent.buttons:
            for text, _ in row:
                number += 1
                self.say(f"   [{number}] {text}")

    def target(self, message: int | None) -> Sent | None:
        """Message `message` of your chat as numbered on screen, else the latest one shown
        that has buttons."""
        numbers = self.numbers.get(self.user, {})
        shown = [s for s in self.fake.sent_to(self.user) if s.message_id in numbers]
        if message is not None:
            return next((s for s in shown if numbers[s.message_id] == message), None)
        return next((s for s in reversed(shown) if s.buttons), None)

    async def press(self, number: int, message: int | None = None) -> None:
        """`#N` or `#M.N`: press a button as the person in this chat would."""
        sent = self.target(message)
        if sent is None:
            self.say("(no message with buttons yet)" if message is None else
                     f"(there is no message #{message} in this chat)")  # fmt: skip
            return
        flat = [data or "" for row in sent.buttons for _, data in row]
        if not 1 <= number <= len(flat):
            self.say(f"(that message has buttons 1 to {len(flat)})" if flat else
                     f"(message #{message} has no buttons)")  # fmt: skip
            return
        answered = len(self.fake.answered_callbacks)
        await self.send(self.fake.build_callback(self.user, flat[number - 1],
                                                 message_id=sent.message_id))  # fmt: skip
        for answer in self.fake.answered_callbacks[answered:]:
            if answer.text:  # a toast or an alert over the chat
                self.say(f"(Telegram shows: {answer.text})")

    async def answer_as_team(self, text: str) -> None:
        """`:team TEXT`: the owner replies to the latest message relayed from the prospect."""
        relayed = [s for s in self.fake.sent_to(OWNER) if s.method == "copyMessage"]
        if not relayed:
            self.say("(nothing relayed to the team yet: write to the bot as the prospect first)")
            return
        update = self.fake.build_message(OWNER, text, first_name="Owner")
        update["message"]["reply_to_message"] = relayed[-1].message
        await self.send(update)

    async def wait(self, amount: str, clock: list[float]) -> None:
        try:
            seconds = parse_delay(amount)
        except ValueError as exc:
            self.say(f"({exc})")
            return
        clock[0] += seconds
        sent = await self.svc.nurture.tick()
        hours = self.svc.settings.send_hours
        tips = "1 tip" if sent == 1 else f"{sent} tips"
        self.say(f"(time moves on by {amount}; {tips} went out; tips go out {hours})")
        self.show()

    async def handle(self, line: str, clock: list[float]) -> bool:
        """One line typed by the user; False to quit."""
        line = line.strip()
        if not line:
            return True
        command, _, rest = line.partition(" ")
        if line in (":quit", ":q", ":exit"):
            return False
        if line == ":help":
            self.say(HELP)
        elif line in (":owner", ":prospect"):
            self.user = OWNER if line == ":owner" else PROSPECT
            self.say(f"(you are now the {line[1:]})")
        elif command == ":lang" and re.fullmatch(r"[a-z]{2}", rest):
            self.lang = rest
            self.say(f"(your Telegram app is now in {rest})")
        elif line == ":sticker":
            await self.send(self.fake.build_sticker(self.user, language_code=self.lang))
        elif command == ":wait":
            await self.wait(rest, clock)
        elif command == ":team" and rest.strip():
            await self.answer_as_team(rest.strip())
        elif pressed := PRESS.fullmatch(line):
            message, button = pressed.groups()
            await self.press(int(button), int(message) if message else None)
        elif line.startswith(":"):
            self.say(f"(unknown preview command {command}; :help lists them)")
        else:
            name = "Owner" if self.user == OWNER else "Ada"
            await self.send(
                self.fake.build_message(self.user, line, first_name=name, language_code=self.lang)
            )
        return True


async def run_preview(settings: Settings, stdin: TextIO, out: TextIO, database: Path | None) -> int:
    """The preview loop; uses a throwaway database unless `database` is given."""
    with tempfile.TemporaryDirectory(prefix="aimant-preview-") as folder:
        clock = [time.time()]
        path = database or Path(folder) / "preview.sqlite3"
        config = settings.model_copy(
            update={
                "bot_token": SecretStr("100000:PREVIEW-no-network"),
                "owner_ids": [OWNER],
                "database_path": path,
                "database_url": None,  # never the live PostgreSQL database: SQLite, throwaway
                "bot_api_url": "http://preview.invalid/bot",
                "crm_webhook_urls": [],  # a rehearsal must not reach the real CRM
            }
        )
        svc = Services(
            config,
            load_catalogue(config.catalogue_path),
            load_texts(config.texts_dir, config.default_language),
            clock=lambda: clock[0],
        )
        fake = StandIn(username="aimant_preview_bot", clock=lambda: clock[0])
        fake.add_user(OWNER, first_name="Owner")
        request, updates = StandInRequest(fake), StandInRequest(fake)
        app = build_application(svc, request=request, updates_request=updates)
        await app.initialize()
        await open_services(app)
        if svc.running and svc.running.mailer:  # the code mail printed, not sent
            svc.open(replace(svc.running, mailer=PreviewMailer(svc, app.bot, out)))
        files = Path.cwd() / "preview-files"
        files.mkdir(exist_ok=True)
        session = Preview(fake, app, svc, out, files)
        print(
            f"Aimant preview: you are a prospect chatting with the bot; files go to {files}.",
            file=out,
        )
        print(HELP + "\nTry /start\n", file=out, flush=True)
        try:
            while True:
                print("you> ", end="", file=out, flush=True)
                line = await asyncio.to_thread(stdin.readline)
                if not line or not await session.handle(line, clock):
                    break
        finally:
            await stop_services(app)
            await close_services(app)
            await app.shutdown()
        for problem in fake.violations:
            print(f"(Telegram would have refused: {problem})", file=out)
    return 0


def preview(settings: Settings, database: Path | None = None) -> int:
    """Entry point for `aimant preview`."""
    return asyncio.run(run_preview(settings, sys.stdin, sys.stdout, database))
