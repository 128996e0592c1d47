"""Aimant's settings: environment variables and an optional `.env` file."""

from __future__ import annotations

import re
import ssl
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.nurture.schedule import Window

TELEGRAM_API_URL = "https://api.telegram.org/bot"
TOKEN_PATTERN = re.compile(r"^\d{1,20}:[A-Za-z0-9_-]{1,200}$")


def _http_url(url: str) -> bool:
    """An absolute http(s) URL with a host that parses (brackets, port and all)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises on a bad port)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and " " not in url


class SettingsError(Exception):
    """Bad settings, with a message that names the variable (and never echoes the token)."""


def url_label(url: str) -> str:
    """A database URL for humans and logs: `postgresql://user@host:5432/aimant`, no password."""
    parts = urlsplit(url)
    user = f"{parts.username}@" if parts.username else ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{user}{parts.hostname or ''}{port}{parts.path}"


class Settings(BaseSettings):
    """Everything an owner configures; built once in `main`, never at import time."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", frozen=True
    )

    bot_token: SecretStr | None = None
    owner_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    database_path: Path = Path("data/aimant.sqlite3")
    # PostgreSQL instead of DATABASE_PATH: postgresql://user:password@host:5432/aimant.
    database_url: SecretStr | None = None
    catalogue_path: Path = Path("magnets/catalogue.toml")
    texts_dir: Path = Path("magnets/texts")
    bot_api_url: str = TELEGRAM_API_URL
    bot_api_file_url: str | None = None
    timezone: str = "Europe/Paris"
    default_language: Literal["en", "fr"] = "en"
    owner_language: Literal["en", "fr"] | None = None  # None: DEFAULT_LANGUAGE
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    concurrent_updates: int = Field(default=64, ge=1, le=1024)
    send_hours: str = "09:00-20:00"
    tips_check_seconds: float = Field(default=30, ge=0.2, le=3600)
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    webhook_listen: str = "127.0.0.1"
    webhook_port: int = Field(default=8080, ge=1, le=65535)
    webhook_path: str = Field(default="/telegram", pattern=r"^/[A-Za-z0-9/_-]{0,100}$")
    webhook_max_connections: int = Field(default=1000, ge=8, le=100_000)
    webhook_read_timeout: float = Field(default=10, gt=0, le=300)
    bulk_rate: float = Field(default=25, gt=0, le=30)
    paid_broadcast_rate: float = Field(default=0, ge=0, le=1000)
    # Double opt-in: on when SMTP_HOST is set.
    smtp_host: str | None = None
    smtp_port: int | None = Field(default=None, ge=1, le=65535)
    smtp_security: Literal["starttls", "tls", "none"] = "starttls"
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_sender: str | None = None
    smtp_timeout: float = Field(default=20, gt=0, le=300)
    smtp_ca_file: Path | None = None  # a private CA for the mail server only
    optin_pdf_waits: bool = True
    optin_mail_magnet: Literal["attach", "link", "none"] = "attach"
    optin_code_minutes: int = Field(default=30, ge=1, le=7 * 24 * 60)
    optin_max_attempts: int = Field(default=5, ge=1, le=20)
    optin_resend_seconds: int = Field(default=60, ge=0, le=3600)
    optin_mail_retry_minutes: int = Field(default=60, ge=1, le=7 * 24 * 60)
    # Webhooks to other tools (CRM, n8n, a spreadsheet script): on when CRM_WEBHOOK_URLS is set.
    crm_webhook_urls: Annotated[list[str], NoDecode] = Field(default_factory=list)
    crm_webhook_secret: SecretStr | None = None
    crm_webhook_retry_hours: float = Field(default=24, gt=0, le=24 * 30)
    crm_webhook_timeout: float = Field(default=10, gt=0, le=120)
    outbox_check_seconds: float = Field(default=2, ge=0.05, le=3600)
    inbox_ack_hours: float = Field(default=12, ge=0, le=24 * 365)
    inbox_chat_id: int | None = Field(default=None, lt=0)  # a supergroup with topics; None: owners

    @field_validator("bot_token", mode="before")
    @classmethod
    def _token_shape(cls, value: object) -> object:
        """Empty means unset; anything else must look like a BotFather token."""
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if not isinstance(value, str) or not TOKEN_PATTERN.match(value.strip()):
            # The message must not contain the value: it is a secret even when malformed.
            raise ValueError("does not look like a BotFather token (digits, a colon, then letters)")
        return value.strip()

    @field_validator("owner_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        """Accept `123,456` or `123 456` as well as a list."""
        if isinstance(value, str):
            parts = [p for p in re.split(r"[,\s]+", value.strip()) if p]
            if not all(re.fullmatch(r"\d{1,20}", p) for p in parts):
                raise ValueError("must be Telegram user ids (numbers) separated by commas")
            return [int(p) for p in parts]
        return value

    @field_validator("crm_webhook_urls", mode="before")
    @classmethod
    def _split_urls(cls, value: object) -> object:
        """Accept `https://a,https://b` (or spaces) as well as a list; each an http(s) URL."""
        if isinstance(value, str):
            value = [p for p in re.split(r"[,\s]+", value.strip()) if p]
        if isinstance(value, list):
            for url in value:
                if not isinstance(url, str) or not _http_url(url):
                    raise ValueError("must be http(s) URLs separated by commas")
            value = list(dict.fromkeys(value))  # a URL listed twice gets each event once
        return value

    @field_validator(
        "smtp_host",
        "smtp_user",
        "smtp_sender",
        "smtp_port",
        "owner_language",
        "inbox_chat_id",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        """An empty variable in .env means unset."""
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("smtp_sender")
    @classmethod
    def _sender_address(cls, value: str | None) -> str | None:
        """The From address: `Name <a@b.c>` or `a@b.c`, one line."""
        if value is not None and (
            "\n" in value or "\r" in value or not re.search(r"[^@\s<]+@[^@\s>]+", value)
        ):
            raise ValueError("must be an address such as Aimant <hello@example.com>")
        return value

    @field_validator("smtp_ca_file", mode="before")
    @classmethod
    def _blank_path(cls, value: object) -> object:
        """An empty SMTP_CA_FILE means unset."""
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("smtp_ca_file")
    @classmethod
    def _readable_ca(cls, value: Path | None) -> Path | None:
        """PEM certificates that Python's ssl can load (checked now, not at the first mail)."""
        if value is not None:
            try:
                ssl.create_default_context().load_verify_locations(cafile=value)
            except (OSError, ssl.SSLError) as exc:
                reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
                message = f"cannot load CA certificates (PEM) from {value}: {reason}"
                raise ValueError(message) from None
        return value

    @field_validator("database_url", mode="before")
    @classmethod
    def _postgres_url(cls, value: object) -> object:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        text = value.get_secret_value() if isinstance(value, SecretStr) else str(value)
        try:
            parts = urlsplit(text.strip())
            parts.port  # noqa: B018 (raises on a bad port)
        except ValueError:
            parts = None
        if parts is None or parts.scheme not in ("postgresql", "postgres") or not parts.hostname:
            # The value may hold a password: never echoed.
            raise ValueError("must be postgresql://user:password@host:5432/database")
        return text.strip()

    def database_label(self) -> str:
        """Where the data is, for humans and logs: the file, or the URL without its password."""
        if self.database_url is None:
            return str(self.database_path)
        return url_label(self.database_url.get_secret_value())

    def database_password(self) -> str | None:
        """The password in DATABASE_URL, if any (redacted from every log line)."""
        if self.database_url is None:
            return None
        return urlsplit(self.database_url.get_secret_value()).password

    @field_validator("smtp_password", "crm_webhook_secret", mode="before")
    @classmethod
    def _blank_secret(cls, value: object) -> object:
        """An empty secret means unset."""
        return None if value == "" else value

    @model_validator(mode="after")
    def _optional_features(self) -> Settings:
        """SMTP needs a sender; webhooks need a secret to sign with."""
        if self.smtp_host and not self.smtp_sender:
            raise ValueError("SMTP_SENDER is required when SMTP_HOST is set")
        if self.crm_webhook_urls and self.crm_webhook_secret is None:
            raise ValueError("CRM_WEBHOOK_SECRET is required when CRM_WEBHOOK_URLS is set")
        return self

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        """An IANA zone such as Europe/Paris."""
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (use a name like Europe/Paris)") from exc
        return value

    @field_validator("send_hours")
    @classmethod
    def _window(cls, value: str) -> str:
        """Daily sending hours for tips, like 09:00-20:00."""
        Window.parse(value)
        return value

    @field_validator("webhook_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        """Telegram only calls https URLs (ports 443, 80, 88, 8443); empty means polling."""
        if not value or not value.strip():
            return None
        if not re.match(r"^https://[^\s/]+", value) and not value.startswith("http://127.0.0.1"):
            raise ValueError("must be the public https:// URL of this bot (empty: long polling)")
        return value.strip()

    @field_validator("webhook_secret", mode="before")
    @classmethod
    def _secret_shape(cls, value: object) -> object:
        """1-256 characters of A-Z a-z 0-9 _ - (Telegram's rule); empty means unset."""
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if value is None or value == "":
            return None
        if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", value):
            raise ValueError("must be 1-256 characters of letters, digits, _ and -")
        return value

    @model_validator(mode="after")
    def _webhook_needs_secret(self) -> Settings:
        """A webhook without a secret would accept updates from anyone."""
        if self.webhook_url and self.webhook_secret is None:
            raise ValueError("WEBHOOK_SECRET is required when WEBHOOK_URL is set")
        return self

    @field_validator("bot_api_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        """The Bot API base, e.g. https://api.telegram.org/bot."""
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("must be an http(s) URL such as https://api.telegram.org/bot")
        return value

    @property
    def double_optin(self) -> bool:
        """Whether emails are verified with a code sent over SMTP."""
        return bool(self.smtp_host)

    @property
    def smtp_port_or_default(self) -> int:
        """The SMTP port: as set, or the usual one for the security mode."""
        if self.smtp_port:
            return self.smtp_port
        return {"starttls": 587, "tls": 465, "none": 25}[self.smtp_security]

    @property
    def window(self) -> Window:
        """The sending hours for tips."""
        return Window.parse(self.send_hours)

    @property
    def zone(self) -> ZoneInfo:
        """The owner's time zone."""
        return ZoneInfo(self.timezone)

    @property
    def file_url(self) -> str:
        """The Bot API file base, derived from the API URL unless set."""
        if self.bot_api_file_url:
            return self.bot_api_file_url
        if self.bot_api_url.endswith("/bot"):
            return self.bot_api_url[: -len("/bot")] + "/file/bot"
        return self.bot_api_url


def load_settings(**overrides: object) -> Settings:
    """Build the settings, turning validation errors into one readable message."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            name = "_".join(str(part) for part in error["loc"]).upper() or "settings"
            lines.append(f"{name}: {error['msg'].removeprefix('Value error, ')}")
        raise SettingsError("Bad setting(s):\n  " + "\n  ".join(lines)) from None
