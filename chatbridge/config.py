"""Configuration: one TOML file plus CHATBRIDGE_* environment variables, validated at start-up.

Secrets (tokens, passwords) are accepted only from the environment or a secrets directory, never
from the TOML file, so a config file can be shared or committed safely. Every problem becomes one
line naming the key and what is expected; nothing here ever echoes a secret.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from chatbridge.forum.durations import parse_duration
from chatbridge.forum.text import InputError
from chatbridge.matrix_ids import is_room_alias, is_room_id

SECRET_KEYS = ("discord_token", "matrix_password", "matrix_access_token")
"""Top-level settings that hold secrets; read from CHATBRIDGE_<NAME> or a file of that name."""

DEFAULT_CONFIG_NAME = "chatbridge.toml"


class ConfigError(Exception):
    """Invalid configuration; `lines` holds one readable line per problem."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ForumConfig(_Section):
    """How chat maps onto the forum."""

    command_prefixes: tuple[str, ...] = Field(default=("!", "/"), min_length=1)
    like_reactions: tuple[str, ...] = Field(default=("👍", "❤️"), min_length=1)
    trophies_file: Path | None = None
    announce_trophies: bool = True
    timezone: str = "UTC"
    page_size: int = Field(default=10, ge=1, le=50)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"expected an IANA time zone such as Europe/London, got {value!r}") from None
        return value

    @field_validator("command_prefixes")
    @classmethod
    def _short_prefixes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for prefix in value:
            if not prefix or len(prefix) > 3 or any(c.isspace() for c in prefix):
                raise ValueError(f"expected prefixes of 1 to 3 non-space characters, got {prefix!r}")
        return value


class DiscordConfig(_Section):
    """A Discord application; the token comes from CHATBRIDGE_DISCORD_TOKEN."""

    enabled: bool = False
    application_id: int | None = None
    guild_ids: tuple[int, ...] = ()
    message_content: bool = True
    shard_count: int | None = Field(default=None, ge=1)
    shard_ids: tuple[int, ...] | None = None


class MatrixConfig(_Section):
    """A Matrix account; the password or access token comes from the environment."""

    enabled: bool = False
    homeserver: str | None = None
    user_id: str | None = None
    device_name: str = "chatbridge"
    allowed_inviters: tuple[str, ...] = ()
    community_rooms: tuple[str, ...] = ()
    backfill_hours: int = Field(default=0, ge=0, le=24 * 30)

    @field_validator("user_id")
    @classmethod
    def _matrix_id(cls, value: str | None) -> str | None:
        if value is not None and (not value.startswith("@") or ":" not in value):
            raise ValueError(f"expected a Matrix user id like @bot:example.org, got {value!r}")
        return value

    @field_validator("community_rooms")
    @classmethod
    def _rooms(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for entry in value:
            if not (is_room_id(entry) or is_room_alias(entry)):
                raise ValueError(
                    "expected a room id (!id:server, or !id from room version 12 on) "
                    f"or an alias (#name:server), got {entry!r}"
                )
        return value


class WarningThreshold(_Section):
    """Reaching `points` active warning points mutes the member for `mute` (a duration like 1d)."""

    points: int = Field(ge=1, le=1000)
    mute: str

    @field_validator("mute")
    @classmethod
    def _duration(cls, value: str) -> str:
        try:
            parse_duration(value)
        except InputError as error:
            raise ValueError(error.message) from None
        return value


class ModerationConfig(_Section):
    """Who is a moderator, and how moderation behaves."""

    moderators: tuple[str, ...] = ()
    admins: tuple[str, ...] = ()
    matrix_moderator_level: int = 50
    matrix_admin_level: int = 100
    reveal_moderator_names: bool = False
    queue_room: str | None = None
    """The moderators' queue: a sub-forum name or a platform room id; case cards are posted there."""
    admin_queue_room: str | None = None
    """Where cases about moderators go (escalated to admins); unset: they are only in `!queue`."""
    report_limit: int = Field(default=5, ge=1, le=1000)
    report_window_minutes: int = Field(default=60, ge=1, le=7 * 24 * 60)
    mute_notice: bool = True
    """Tell a muted (or warned) member why and until when, by direct message."""
    warning_points: int = Field(default=1, ge=1, le=100)
    warning_expiry_days: int = Field(default=90, ge=1, le=3650)
    warning_thresholds: tuple[WarningThreshold, ...] = (WarningThreshold(points=3, mute="1d"),)
    sweep_seconds: float = Field(default=30.0, gt=0, le=3600)
    """How often ended mutes are lifted (and at start-up at once, to catch up after downtime)."""


class DigestConfig(_Section):
    """Weekly digests: what they feature, and how far an admin's own template may go."""

    entries: int = Field(default=5, ge=1, le=25)
    """Entries per section (top threads, most-liked replies, unanswered threads)."""
    max_per_author: int = Field(default=2, ge=1, le=25)
    """How often one member may appear among the featured threads and liked replies together."""
    min_participants: int = Field(default=3, ge=1, le=1000)
    """Distinct members who must have posted in a thread during the week for it to be featured."""
    templates_dir: Path | None = None
    """Admins' own digest templates (`digest schedule ... TEMPLATE` names a file in it)."""
    max_output_chars: int = Field(default=20_000, ge=2_000, le=200_000)
    """An admin's template that writes more than this is stopped; the default template is used."""
    render_timeout: float = Field(default=2.0, gt=0, le=30)
    """Seconds an admin's template may render before it is stopped."""

    @field_validator("templates_dir")
    @classmethod
    def _existing_directory(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_dir():
            raise ValueError(f"expected a directory of digest templates, {str(value)!r} is not one")
        return value


class LoggingConfig(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["text", "json"] = "text"


class Settings(BaseSettings):
    """Everything chatbridge reads at start-up."""

    model_config = SettingsConfigDict(
        env_prefix="CHATBRIDGE_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    database_url: str = "sqlite:///chatbridge.db"
    data_dir: Path = Path("chatbridge-data")
    forum: ForumConfig = ForumConfig()
    discord: DiscordConfig = DiscordConfig()
    matrix: MatrixConfig = MatrixConfig()
    moderation: ModerationConfig = ModerationConfig()
    logging: LoggingConfig = LoggingConfig()
    digest: DigestConfig = DigestConfig()

    discord_token: SecretStr | None = None
    matrix_password: SecretStr | None = None
    matrix_access_token: SecretStr | None = None

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, value: str) -> str:
        if not value.startswith(("sqlite://", "postgresql+psycopg://")):
            raise ValueError("expected sqlite:///path/to/file.db or postgresql+psycopg://user@host/db")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment overrides the file (passed as init values); secrets files come last.
        return env_settings, init_settings, file_secret_settings


def load_settings(path: Path | None = None, *, secrets_dir: Path | None = None) -> Settings:
    """Read and validate the configuration, raising ConfigError with one line per problem.

    Without an explicit `path`, CHATBRIDGE_CONFIG or ./chatbridge.toml is used when present.
    """
    env = os.environ
    if path is None and env.get("CHATBRIDGE_CONFIG"):
        path = Path(env["CHATBRIDGE_CONFIG"])
    elif path is None and Path(DEFAULT_CONFIG_NAME).is_file():
        path = Path(DEFAULT_CONFIG_NAME)
    data = _read_toml(path) if path is not None else {}
    leaked = [k for k in SECRET_KEYS if k in data] + [
        f"{section}.{key}"
        for section in ("discord", "matrix")
        for key in ("token", "password", "access_token")
        if isinstance(data.get(section), dict) and key in data[section]
    ]
    if leaked:
        raise ConfigError(
            [
                f"{path}: {key}: secrets are not read from the config file; set "
                f"CHATBRIDGE_{key.replace('.', '_').upper()} in the environment instead"
                for key in leaked
            ]
        )
    secrets = secrets_dir or (
        Path(env["CHATBRIDGE_SECRETS_DIR"]) if env.get("CHATBRIDGE_SECRETS_DIR") else None
    )
    try:
        return Settings(_secrets_dir=secrets, **data)
    except ValidationError as error:
        raise ConfigError(_describe(error, path, data)) from None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError([f"{path}: config file not found"]) from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError([f"{path}: not valid TOML: {error}"]) from None
    except OSError as error:
        raise ConfigError([f"{path}: cannot be read: {error.strerror}"]) from None


def _describe(error: ValidationError, path: Path | None, data: Mapping[str, Any]) -> list[str]:
    lines = []
    for problem in error.errors(include_url=False, include_input=False):
        key = ".".join(str(part) for part in problem["loc"])
        from_file = path is not None and _has_key(data, problem["loc"])
        origin = f"{path}: " if from_file else ""
        if not from_file:
            key = "CHATBRIDGE_" + "__".join(str(part) for part in problem["loc"]).upper()
        if problem["type"] == "extra_forbidden":
            lines.append(f"{origin}{key}: unknown key{_suggest(problem['loc'])}")
            continue
        message = problem["msg"].removeprefix("Value error, ")
        lines.append(f"{origin}{key}: {message}")
    return lines


def _has_key(data: Mapping[str, Any], loc: tuple[int | str, ...]) -> bool:
    node: object = data
    for part in loc:
        if not isinstance(node, Mapping) or part not in node:
            return False
        node = node[part]
    return True


def _suggest(loc: tuple[int | str, ...]) -> str:
    model: type[BaseModel] = Settings
    for part in loc[:-1]:
        field = model.model_fields.get(str(part))
        annotation = field.annotation if field else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return ""
        model = annotation
    close = difflib.get_close_matches(str(loc[-1]), list(model.model_fields), n=1)
    return f" (did you mean {close[0]}?)" if close else ""
