"""`python -m bot` / `aimant`: run the bot with long polling, or explain how to go live."""

from __future__ import annotations

import argparse
import logging
import sys

from bot.app import ALLOWED_UPDATES, build_application
from bot.catalogue import CatalogueError, load_catalogue
from bot.logs import configure_logging
from bot.services import Services
from bot.settings import SettingsError, load_settings
from bot.summary import content_summary
from bot.texts import TextsError, load_texts

GO_LIVE = """
No bot token is configured, so the bot is not connected to Telegram yet. Your content above is
valid. To go live:
  1. In Telegram, talk to @BotFather, send /newbot and copy the token it gives you.
  2. Copy .env.example to .env and set BOT_TOKEN=<that token>.
  3. Set OWNER_IDS to your own Telegram user id (ask @userinfobot) to use the owner commands.
  4. Run this command again: the bot starts with long polling.
"""


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    parser = argparse.ArgumentParser(prog="aimant", description=__doc__)
    parser.parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    token = settings.bot_token.get_secret_value() if settings.bot_token else ""
    configure_logging(settings.log_level, [token])
    try:
        catalogue = load_catalogue(settings.catalogue_path)
        texts = load_texts(settings.texts_dir, settings.default_language)
    except (CatalogueError, TextsError) as exc:
        print(exc, file=sys.stderr)
        return 2
    print(content_summary(catalogue, texts))
    if not token:
        print(GO_LIVE)
        return 0
    app = build_application(Services(settings, catalogue, texts))
    logging.getLogger(__name__).info("starting with long polling against %s", settings.bot_api_url)
    app.run_polling(allowed_updates=ALLOWED_UPDATES)
    return 0


if __name__ == "__main__":
    sys.exit(main())
