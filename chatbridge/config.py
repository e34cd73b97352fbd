"""Configuration: one TOML file plus CHATBRIDGE_* environment variables, validated at start-up.

Secrets (tokens, passwords) are accepted only from the environment or a secrets directory, never
from the TOML file, so a config file can be shared or committed safely. Every problem becomes one
line naming the key and what is expected; nothing here ever echoes a secret.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal, get_args, get_origin
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, SettingsError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from chatbridge.forum.durations import parse_duration
from chatbridge.forum.ranks import TrophyConfigError, load_trophy_config
from chatbridge.forum.text import InputError
from chatbridge.matrix_ids import is_room_alias, is_room_id
from chatbridge.services.phi_detector import Kind

SECRET_KEYS = ("discord_token", "matrix_password", "matrix_access_token")
"""Top-level settings that hold secrets; read from CHATBRIDGE_<NAME> or a file of that name."""

_SECRET_NAME = re.compile(r"(token|password|passwd|secret|api_?key|credentials?)$")
"""A key that names a secret, in any section and spelling (`Discord_Token`, `[matrix] PASSWORD`)."""

_SECRET_ENV = {
    "discord_token": "CHATBRIDGE_DISCORD_TOKEN",
    "discord.token": "CHATBRIDGE_DISCORD_TOKEN",
    "matrix_password": "CHATBRIDGE_MATRIX_PASSWORD",
    "matrix.password": "CHATBRIDGE_MATRIX_PASSWORD",
    "matrix_access_token": "CHATBRIDGE_MATRIX_ACCESS_TOKEN",
    "matrix.access_token": "CHATBRIDGE_MATRIX_ACCESS_TOKEN",
}

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

    @field_validator("trophies_file")
    @classmethod
    def _valid_trophies(cls, value: Path | None) -> Path | None:
        # Read now, so a missing or broken file stops `chatbridge config` too, not only start-up.
        if value is not None:
            try:
                load_trophy_config(value)
            except TrophyConfigError as error:
                raise ValueError(str(error)) from None
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


class OutboxConfig(_Section):
    """The platform actions the bot carries out from the store (posts, notices, mutes, deletions)."""

    max_attempts: int = Field(default=8, ge=1, le=1000)
    """Failed attempts after which an action is set aside for an admin (`chatbridge outbox list`);
    rate limits do not count, and a refusal that retrying cannot change sets it aside at once."""


class CredentialsConfig(_Section):
    """Verified clinician badges: who may verify, and the Discord role that goes with a badge."""

    verifiers: tuple[str, ...] = ()
    """Members who may verify credentials besides the moderators ("discord:123", "@hend:example.org")."""
    discord_role_id: str | None = None
    """A Discord role added with a badge and removed with it; Matrix has no roles (nothing to do)."""
    remind_days: int = Field(default=7, ge=1, le=90)
    """How many days before a credential expires its verifier is reminded."""


class PileOnConfig(_Section):
    """Pile-on detection: when many members turn on one within minutes, the moderators are told."""

    enabled: bool = True
    members: int = Field(default=4, ge=2, le=100)
    """Distinct members whose hostile messages at one member, within the window, open a case."""
    window_minutes: int = Field(default=30, ge=1, le=24 * 60)
    new_member_days: int = Field(default=14, ge=0, le=3650)
    """A participant who joined (or first spoke) this recently is shown as new to the community."""
    dismissals_per_step: int = Field(default=3, ge=1, le=100)
    """Each this many alerts dismissed as "not a pile-on" in the last 30 days raise the community's
    threshold by one member (two at most), so a community whose debates run hot is told less."""
    slowmode_seconds: int = Field(default=60, ge=1, le=21600)
    """The pace the "Slow the thread" action sets when the moderator gives none."""
    support_note: bool = True
    """Send the member who was piled on one private, supportive note with how to report."""


GuardMode = Literal["warn", "hold", "off"]


class PrivacyGuardRules(_Section):
    """One community's own privacy-guard settings; unset keys take the [privacy_guard] defaults."""

    mode: GuardMode | None = None
    ignore: tuple[Kind, ...] | None = None


class PrivacyGuardConfig(_Section):
    """The patient-privacy guard: what happens to a post that names a patient (docs/safety.md).

    `warn`: the author is told privately what was found and how to rephrase; `hold`: the post is
    removed where the bot may, and the author gets their text back masked; `off`: not checked.
    In every mode but `off` a flagged post is stored masked (the unmasked text is never kept) and is
    left out of digests, share quotes and cards."""

    mode: GuardMode = "warn"
    ignore: tuple[Kind, ...] = ()
    """Identifier kinds this community does not flag (e.g. `age_over_89` in a geriatrics forum)."""
    communities: dict[str, PrivacyGuardRules] = {}
    """Overrides by community name: `[privacy_guard.communities."Clinical Chat"] mode = "hold"`."""


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
    outbox: OutboxConfig = OutboxConfig()
    credentials: CredentialsConfig = CredentialsConfig()
    pileon: PileOnConfig = PileOnConfig()
    privacy_guard: PrivacyGuardConfig = PrivacyGuardConfig()

    discord_token: SecretStr | None = None
    matrix_password: SecretStr | None = None
    matrix_access_token: SecretStr | None = None

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, value: str) -> str:
        if not value.startswith(("sqlite://", "postgresql+psycopg://")):
            raise ValueError("expected sqlite:///path/to/file.db or postgresql+psycopg://user@host/db")
        try:
            parsed = make_url(value)
            parsed.port  # noqa: B018 - a port that is not a number fails here, not at first connect
        except (ArgumentError, ValueError):
            # Not echoed: the part that does not parse may be a password.
            raise ValueError(
                "cannot be read as a database URL (is the port a number, and are special characters "
                "in the password %-encoded?)"
            ) from None
        if _in_memory_sqlite(value):
            raise ValueError(
                "an in-memory SQLite database keeps nothing and is not shared between the bot's "
                "connections; name a file: sqlite:///chatbridge.db"
            )
        return value

    @field_validator("data_dir")
    @classmethod
    def _usable_data_dir(cls, value: Path) -> Path:
        # Checked now, so the sandbox does not fail half-way through starting a homeserver. (Not
        # whether it is writable: only the sandbox writes there, and a bot may run read-only.)
        if value.exists() and not value.is_dir():
            raise ValueError(f"expected a directory, {str(value)!r} is a file")
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


def _in_memory_sqlite(url: str) -> bool:
    """`sqlite://`, `sqlite:///:memory:` or a `mode=memory` URI: gone at exit, one per connection."""
    if not url.startswith("sqlite://"):
        return False
    database, _, query = url.removeprefix("sqlite://").removeprefix("/").partition("?")
    return database in ("", ":memory:") or "mode=memory" in query or "mode=memory" in database


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
    leaked = list(_secret_keys(data))
    if leaked:
        raise ConfigError([f"{path}: {key}: {_secret_hint(key)}" for key in leaked])
    secrets = secrets_dir or (
        Path(env["CHATBRIDGE_SECRETS_DIR"]) if env.get("CHATBRIDGE_SECRETS_DIR") else None
    )
    if secrets is not None and not secrets.is_dir():
        raise ConfigError(
            [f"CHATBRIDGE_SECRETS_DIR: expected a directory of secret files, {str(secrets)!r} is not one"]
        )
    try:
        return Settings(_secrets_dir=secrets, **data)
    except ValidationError as error:
        raise ConfigError(_describe(error, path, data)) from None
    except SettingsError as error:
        # pydantic-settings could not parse a CHATBRIDGE_* value as JSON (a section or a list).
        raise ConfigError(_describe_env_error(error)) from None


def _secret_keys(node: object, prefix: str = "") -> Iterator[str]:
    """Every key in the TOML document that names a secret, as a dotted path (lists indexed)."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            path = f"{prefix}{key}"
            normalized = str(key).strip().lower().replace("-", "_")
            if _SECRET_NAME.search(normalized):
                yield path
            else:
                yield from _secret_keys(value, f"{path}.")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _secret_keys(value, f"{prefix.removesuffix('.')}[{index}].")


def _secret_hint(key: str) -> str:
    variable = _SECRET_ENV.get(key.strip().lower().replace("-", "_"))
    if variable is not None:
        return f"secrets are not read from the config file; set {variable} in the environment instead"
    return (
        "secrets are not read from the config file; set CHATBRIDGE_DISCORD_TOKEN, "
        "CHATBRIDGE_MATRIX_PASSWORD or CHATBRIDGE_MATRIX_ACCESS_TOKEN in the environment instead"
    )


def _describe_env_error(error: SettingsError) -> list[str]:
    """Name each CHATBRIDGE_* variable that should hold JSON (a list or a section) and does not."""
    if not str(error).startswith("error parsing value"):
        return [f"CHATBRIDGE_SECRETS_DIR: {error}"]  # the only other thing pydantic-settings reads
    found = re.search(r'field "(?P<field>[^"]+)"', str(error))
    prefix = f"CHATBRIDGE_{found['field']}".upper() if found else "CHATBRIDGE_"
    lines = []
    for name, value in sorted(os.environ.items()):
        shape = _json_shape(name.upper().removeprefix("CHATBRIDGE_").lower().split("__"))
        if not name.upper().startswith(prefix) or shape is None:
            continue
        try:
            json.loads(value)
        except ValueError:
            lines.append(f"{name}: expected {shape}, not valid JSON")
    return lines or [f"{prefix}: not valid JSON"]


def _json_shape(path: list[str]) -> str | None:
    """What a variable naming this field path must hold when it is read as JSON, or None."""
    model: type[BaseModel] = Settings
    annotation: object = None
    for part in path:
        field = model.model_fields.get(part)
        if field is None:
            return None
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model = annotation
        elif part != path[-1]:
            return None
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return 'a JSON object such as {"key": "value"} (or one key per variable, joined by __)'
    if any(t in (tuple, list) for t in (get_origin(annotation), *map(get_origin, get_args(annotation)))):
        return 'a JSON list such as ["a", "b"]'
    return None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError([f"{path}: config file not found"]) from None
    except OSError as error:
        raise ConfigError([f"{path}: cannot be read: {error.strerror}"]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise ConfigError([f"{path}: not valid UTF-8 (line {line}); save the file as UTF-8"]) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError([f"{path}: not valid TOML: {error}"]) from None
    except RecursionError:
        raise ConfigError([f"{path}: not valid TOML: arrays or tables nested too deeply"]) from None


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
        if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]  # an item of a list in the file (`ignore = ["names"]`)
            continue
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
