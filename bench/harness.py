"""The bot in process against the fake Bot API, for benchmarks (like the tests' harness)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.app import App, build_application, close_services, open_services, stop_services
from bot.content.catalogue import load_catalogue
from bot.content.texts import load_texts
from bot.services import Services
from bot.settings import Settings
from tests.fakeapi import FakeRequest, FakeTelegram

ROOT = Path(__file__).resolve().parents[1]
OWNER = 900001


def settings(folder: Path, **overrides: Any) -> Settings:
    """Settings for a benchmark run, with its own database."""
    values: dict[str, Any] = {
        "bot_token": "123456:BENCH-token",
        "owner_ids": [OWNER],
        "database_path": folder / "bench.sqlite3",
        "catalogue_path": ROOT / "magnets" / "catalogue.toml",
        "texts_dir": ROOT / "magnets" / "texts",
        "bot_api_url": "http://fake.invalid/bot",
        "send_hours": "00:00-24:00",
        "_env_file": None,
    }
    values.update(overrides)
    return Settings(**values)


async def start(config: Settings, fake: FakeTelegram) -> tuple[App, Services]:
    """The real application, initialised and opened like run_polling would."""
    svc = Services(
        config,
        load_catalogue(config.catalogue_path),
        load_texts(config.texts_dir, config.default_language),
    )
    fake.add_user(OWNER, first_name="Owner")
    app = build_application(svc, request=FakeRequest(fake), updates_request=FakeRequest(fake))
    await app.initialize()
    await open_services(app)
    return app, svc


async def stop(app: App) -> None:
    """Stop and close, like run_polling's shutdown."""
    await stop_services(app)
    await close_services(app)
    await app.shutdown()
