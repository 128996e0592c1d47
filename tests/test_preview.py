"""`aimant preview`, driven through its input stream as a user would type."""

from __future__ import annotations

import asyncio
import io
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.preview.chat import run_preview
from tests.conftest import ROOT, make_settings


def run(tmp_path: Path, lines: list[str]) -> str:
    env = {k: v for k, v in os.environ.items() if k != "BOT_TOKEN"}
    env.update(
        CATALOGUE_PATH=str(ROOT / "magnets" / "catalogue.toml"),
        TEXTS_DIR=str(ROOT / "magnets" / "texts"),
        SEND_HOURS="00:00-24:00",
    )
    done = subprocess.run(
        [sys.executable, "-m", "bot", "preview"],
        input="\n".join(lines) + "\n",
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    return done.stdout


def test_the_whole_funnel_in_the_terminal(tmp_path: Path) -> None:
    out = run(
        tmp_path,
        [
            "/start instagram", "#1", "ada@example.com", "#2", ":wait 1d", "#9", "#1",
            ":lang fr", "/help", ":sticker", ":owner", "/stats", "/links", ":prospect",
            ":nonsense", "/plan", ":quit",
        ],
    )  # fmt: skip
    assert "bot #1: Hello Ada!" in out and "[1] What to wear for your photo shoot" in out
    assert "To receive it, just reply with your email address." in out
    assert "bot #4: What kind of shoot are you planning?" in out
    assert "bot #4 (edited): What kind of shoot are you planning?\n     → Family or kids" in out
    pdf = tmp_path / "preview-files" / "what-to-wear.en.pdf"
    assert f"[document saved to {pdf}]" in out and pdf.read_bytes().startswith(b"%PDF-")
    assert "(time moves on by 1d; 1 tip went out" in out
    assert "Tip 1: pick your palette first" in out and "[1] 🔕 Stop messages from us" in out
    assert "(that message has buttons 1 to 1)" in out
    assert "Done: you won't receive any more messages" in out  # the stop button, pressed
    assert "/plan - demander un plan personnalisé" in out  # /help in French
    assert "Stats" in out and "picture saved to" in out
    assert "https://t.me/aimant_preview_bot?start=what-to-wear" in out
    assert "(unknown preview command :nonsense; :help lists them)" in out
    # The owners' alert shows as it happens, marked as theirs, while you are the prospect.
    after = out.split("(you are now the prospect)")[1]
    assert re.search(r"\n\[to owner\] bot #\d+: 🔥 Ready to talk", after)


def test_the_preview_answers_start_with_the_tests_out_of_reach(tmp_path: Path) -> None:
    """As from the wheel (no tests package): the stand-in alone answers /start, and nothing the
    bot sent would have been refused."""
    env = {k: v for k, v in os.environ.items() if k != "BOT_TOKEN"}
    env.update(
        CATALOGUE_PATH=str(ROOT / "magnets" / "catalogue.toml"),
        TEXTS_DIR=str(ROOT / "magnets" / "texts"),
        PYTHONPATH=str(ROOT),
    )
    code = (
        "import sys; sys.modules['tests'] = None\n"  # `import tests...` now raises ImportError
        "from bot.__main__ import main; sys.argv = ['aimant', 'preview']; main()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], input="/start\n:quit\n", cwd=tmp_path, env=env,
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "you> bot #1: Hello Ada!" in done.stdout
    assert "Telegram would have refused" not in done.stdout


def test_the_start_command_without_a_token_and_without_a_terminal(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "BOT_TOKEN"}
    env.update(
        CATALOGUE_PATH=str(ROOT / "magnets" / "catalogue.toml"),
        TEXTS_DIR=str(ROOT / "magnets" / "texts"),
    )
    done = subprocess.run(
        [sys.executable, "-m", "bot"], cwd=tmp_path, env=env, capture_output=True, text=True,
        stdin=subprocess.DEVNULL, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0
    assert "@BotFather" in done.stdout and "aimant preview" in done.stdout


class Typist:
    """Stdin for an in-process preview: each line may read what the terminal showed so far."""

    def __init__(self, out: io.StringIO, lines: list[str | Callable[[str], str]]) -> None:
        self.out, self.lines = out, list(lines)

    def readline(self) -> str:
        if not self.lines:
            return ""
        line = self.lines.pop(0)
        return (line(self.out.getvalue()) if callable(line) else line) + "\n"


def test_double_optin_rehearsed_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With SMTP settings the code mail is printed, not sent; typing its code goes on."""
    settings = make_settings(
        tmp_path,
        bot_token=None,
        smtp_host="smtp.invalid",
        smtp_sender="hello@example.com",
    )
    out = io.StringIO()

    def code(shown: str) -> str:
        return re.findall(r"code is: (\d{6})", shown)[-1]

    typist = Typist(out, ["/start", "#1", "ada@example.com", code, ":quit"])
    monkeypatch.chdir(tmp_path)  # preview files go to the working directory
    assert asyncio.run(run_preview(settings, typist, out, None)) == 0  # type: ignore[arg-type]
    shown = out.getvalue()
    assert "--- mail to ada@example.com (not sent: preview)" in shown
    assert "[attached: what-to-wear.en.pdf]" in shown
    assert re.search(r"bot #\d+: ✅ Thanks, ada@example.com is verified.", shown)
    assert re.search(r"bot #\d+: What kind of shoot are you planning\?", shown)


def number_of(shown: str, text: str) -> int:
    """The number M of the latest message `bot #M: <text>…` in your chat's transcript."""
    return int(re.findall(rf"^(?:you> )?bot #(\d+): {re.escape(text)}", shown, re.M)[-1])


def test_a_broadcast_confirmed_after_its_test(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`#M.N` presses a button of an earlier message: the test arrived below the preview, and
    what the lead receives shows as it happens."""
    settings = make_settings(tmp_path, bot_token=None)
    out = io.StringIO()

    def confirm(shown: str) -> str:  # "✅ Send to 1" is button 2 of the preview message
        return f"#{number_of(shown, 'Above is the message exactly as leads will see it')}.2"

    def later(shown: str) -> str:
        time.sleep(1)  # the broadcast goes out in the background meanwhile
        return ":wait 1s"

    lines: list[str | Callable[[str], str]] = [
        "/start", "#1", "ada@example.com", "#2", ":owner", "/broadcast Hello everyone",
        "#1", "#1", confirm, later, "#3.1", "#40.1", "#6.3", ":quit",
    ]  # fmt: skip
    monkeypatch.chdir(tmp_path)
    typist = Typist(out, lines)
    assert asyncio.run(run_preview(settings, typist, out, None)) == 0  # type: ignore[arg-type]
    owner = out.getvalue().split("(you are now the owner)")[1]
    test, preview = number_of(owner, "Hello everyone"), number_of(owner, "Above is the message")
    assert test > preview  # the test is the latest message with buttons: #N alone misses it
    assert f"bot #{preview} (edited): Above is the message" in owner  # confirmed
    assert re.search(r"bot #\d+: ✅ Broadcast #1 finished: sent 1", owner)
    assert re.search(r"\n\[to prospect\] bot #\d+: Hello everyone\n   \[1\] 🔕 Stop", owner)
    assert "(Telegram shows: This broadcast has already started" in owner  # the old picker
    assert "(there is no message #40 in this chat)" in owner
    assert "(that message has buttons 1 to 1)" in owner
