"""Start-up validation of content and settings: clear messages naming file, magnet and field."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from bot.content.catalogue import CatalogueError, load_catalogue, parse_delay
from bot.content.texts import TextsError, load_texts
from bot.settings import SettingsError, load_settings
from tests.content import MAGNET, QUESTION, write_catalogue

ROOT = Path(__file__).resolve().parents[1]


def test_shipped_catalogue_and_texts_are_valid() -> None:
    catalogue = load_catalogue(ROOT / "magnets" / "catalogue.toml")
    texts = load_texts(ROOT / "magnets" / "texts", "en")
    assert {m.id for m in catalogue.magnets} == {
        "what-to-wear",
        "gardening-basics",
        "training-plan",
    }
    for magnet in catalogue.magnets:
        assert set(magnet.title) == {"en", "fr"}
        assert magnet.question is not None
        assert 3 <= len(magnet.tips) <= 5
        for lang in ("en", "fr"):
            pdf = catalogue.pdfs[(magnet.id, lang)]
            content = pdf.path.read_bytes()
            assert content.startswith(b"%PDF-")
            assert content.count(b"/Type /Page") - content.count(b"/Type /Pages") >= 2
    assert texts.languages == ("en", "fr")
    assert set(texts.by_lang["fr"]) == set(texts.by_lang["en"])


def test_sample_catalogue_loads(tmp_path: Path) -> None:
    catalogue = load_catalogue(write_catalogue(tmp_path))
    alpha = catalogue.get("alpha")
    assert alpha is not None and alpha.question is not None
    assert [t.delay_seconds for t in alpha.tips] == [2, 3]
    assert catalogue.get("nope") is None


def test_delays() -> None:
    assert [parse_delay(d) for d in ("30s", "6h", "2d", "5m")] == [30, 21600, 172800, 300]
    for bad in ("2", "2w", "-1d", "1.5h", ""):
        with pytest.raises(ValueError):
            parse_delay(bad)


def _error(tmp_path: Path, body: str, pdfs: tuple[str, ...] = ("alpha",)) -> str:
    with pytest.raises(CatalogueError) as info:
        load_catalogue(write_catalogue(tmp_path, body, pdfs))
    return str(info.value)


def test_missing_pdf_names_file_magnet_field(tmp_path: Path) -> None:
    message = _error(tmp_path, MAGNET.format(id="alpha", question=""), pdfs=())
    assert "catalogue.toml" in message and "'alpha'" in message and "pdf.en" in message


def test_duplicate_id(tmp_path: Path) -> None:
    body = MAGNET.format(id="alpha", question="") * 2
    message = _error(tmp_path, body)
    assert "'alpha'" in message and "duplicate magnet id" in message


def test_bad_delay(tmp_path: Path) -> None:
    body = MAGNET.format(id="alpha", question="").replace('delay = "3s"', 'delay = "soon"')
    message = _error(tmp_path, body)
    assert "'alpha'" in message and "tips[1].delay" in message and "soon" in message


def test_text_over_telegram_limit(tmp_path: Path) -> None:
    long = "x" * 4097
    body = MAGNET.format(id="alpha", question="").replace("Tip two for alpha", long)
    message = _error(tmp_path, body)
    assert "tips[1].text" in message and "4097" in message and "4096" in message


def test_caption_limit_and_bad_html(tmp_path: Path) -> None:
    body = MAGNET.format(id="alpha", question=QUESTION)
    body = body.replace("Your guide alpha", "y" * 1025).replace("Dog or cat?", "<div>Dog</div>")
    message = _error(tmp_path, body)
    assert "caption" in message and "1025" in message
    assert "question.text" in message and "div" in message


def test_not_a_pdf(tmp_path: Path) -> None:
    path = write_catalogue(tmp_path, MAGNET.format(id="alpha", question=""), ("alpha",))
    (tmp_path / "alpha.fr.pdf").write_text("hello")
    with pytest.raises(CatalogueError, match="not a PDF"):
        load_catalogue(path)


def test_corrupt_and_missing_catalogue(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("[[magnets]\nid = ")
    with pytest.raises(CatalogueError, match="not valid TOML"):
        load_catalogue(broken)
    with pytest.raises(CatalogueError, match="not found"):
        load_catalogue(tmp_path / "missing.toml")
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    with pytest.raises(CatalogueError, match="magnets"):
        load_catalogue(empty)


def test_unknown_field_is_reported(tmp_path: Path) -> None:
    body = MAGNET.format(id="alpha", question="").replace(
        'id = "alpha"', 'id = "alpha"\ncolour = 3'
    )
    assert "colour" in _error(tmp_path, body)


def test_texts_errors_name_file_and_key(tmp_path: Path) -> None:
    (tmp_path / "en.toml").write_text('welcome = "Hi {nom} <div>"\n')
    with pytest.raises(TextsError) as info:
        load_texts(tmp_path, "en")
    message = str(info.value)
    assert "en.toml, key welcome" in message and "missing keys" in message
    with pytest.raises(TextsError, match="no texts files"):
        load_texts(tmp_path / "none", "en")


def test_texts_fall_back_to_default_language() -> None:
    texts = load_texts(ROOT / "magnets" / "texts", "en")
    assert texts.lang_for("fr-CA") == "fr"
    assert texts.lang_for("de") == "en"
    assert texts.lang_for(None) == "en"


def test_settings_errors_name_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(Path("/"))  # no .env here
    monkeypatch.setenv("TIMEZONE", "Mars/Olympus")
    monkeypatch.setenv("OWNER_IDS", "12,abc")
    monkeypatch.setenv("BOT_TOKEN", "not-a-token-SECRETVALUE")
    with pytest.raises(SettingsError) as info:
        load_settings()
    message = str(info.value)
    assert "TIMEZONE" in message and "OWNER_IDS" in message and "BOT_TOKEN" in message
    assert "SECRETVALUE" not in message


def test_settings_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(Path("/"))
    monkeypatch.setenv("OWNER_IDS", "12, 34")
    monkeypatch.setenv("BOT_TOKEN", "123456:ABC-def_ghi")
    monkeypatch.setenv("BOT_API_URL", "http://127.0.0.1:8081/bot")
    settings = load_settings()
    assert settings.owner_ids == [12, 34]
    assert settings.bot_token is not None and "ABC" not in repr(settings)
    assert settings.file_url == "http://127.0.0.1:8081/file/bot"
    monkeypatch.setenv("BOT_TOKEN", "")
    assert load_settings().bot_token is None


def _write_texts(folder: Path, **changes: str) -> None:
    texts = tomllib.loads((ROOT / "magnets" / "texts" / "en.toml").read_text(encoding="utf-8"))
    texts.update(changes)
    lines = [f"{key} = {json.dumps(value, ensure_ascii=False)}" for key, value in texts.items()]
    (folder / "en.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_texts_over_their_limit_and_literal_braces(tmp_path: Path) -> None:
    _write_texts(tmp_path, help="x" * 3900, button_expired="y" * 151)
    with pytest.raises(TextsError) as info:
        load_texts(tmp_path, "en")
    assert "key help: 3900 characters" in str(info.value)
    assert "key button_expired: 151 characters, the limit here is 150" in str(info.value)
    _write_texts(tmp_path, help="Write to us {{like this}}")
    assert load_texts(tmp_path, "en").get("en", "help") == "Write to us {like this}"
