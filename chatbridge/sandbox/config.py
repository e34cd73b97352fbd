"""Synapse configuration for the local sandbox homeserver.

Kept free of any Synapse import so that config generation can be unit-tested (and the package
imported) on installs without the ``sandbox`` extra. Files are written as JSON: every JSON document
is valid YAML, so Synapse reads them with its own YAML loader and chatbridge needs no YAML library.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

DEFAULT_SERVER_NAME: Final = "chatbridge.localhost"

CONFIG_FILE: Final = "homeserver.yaml"
LOG_CONFIG_FILE: Final = "log.config.yaml"
LOG_FILE: Final = "homeserver.log"
STDIO_LOG_FILE: Final = "homeserver.stdio.log"
DATABASE_FILE: Final = "homeserver.db"
SIGNING_KEY_FILE: Final = "signing.key"
MEDIA_DIR: Final = "media_store"
STATE_FILE: Final = "sandbox-state.json"
LOCK_FILE: Final = "sandbox.lock"

# Every rate limiter Synapse 1.163 reads from the config. Keys a given Synapse version does not
# know are ignored by it, so listing newer ones is harmless.
_RATE_LIMITER_KEYS: Final[tuple[str, ...]] = (
    "rc_message",
    "rc_registration",
    "rc_registration_token_validity",
    "rc_login.address",
    "rc_login.account",
    "rc_login.failed_attempts",
    "rc_admin_redaction",
    "rc_joins.local",
    "rc_joins.remote",
    "rc_joins_per_room",
    "rc_key_requests",
    "rc_3pid_validation",
    "rc_invites.per_room",
    "rc_invites.per_user",
    "rc_invites.per_issuer",
    "rc_third_party_invite",
    "rc_media_create",
    "rc_presence.per_user",
    "rc_delayed_event_mgmt",
    "rc_room_creation",
    "rc_reports",
    "rc_user_directory",
    "rc_profile",
)

_RELAXED_LIMIT: Final[Mapping[str, float]] = {"per_second": 1000.0, "burst_count": 10000}


def _deep_merge(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in overrides.items():
        current = merged.get(key)
        if isinstance(current, Mapping) and isinstance(value, Mapping):
            merged[key] = _deep_merge(current, value)
        else:
            merged[key] = value
    return merged


@dataclass(frozen=True)
class RateLimits:
    """The ``rc_*`` section of homeserver.yaml.

    Synapse's own defaults are tuned against abuse on public servers (e.g. 3 logins per address
    before throttling, 0.2 messages/s); a test suite or a newcomer clicking around trips them
    within seconds, so tests and the sandbox use :meth:`relaxed`. Tests that want to provoke
    ``429 M_LIMIT_EXCEEDED`` start a homeserver with :meth:`synapse_defaults`, or keep the relaxed
    preset and tighten a single limiter with :meth:`override` so nothing else gets in the way.
    """

    settings: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def relaxed(cls) -> RateLimits:
        settings: dict[str, Any] = {}
        for dotted in _RATE_LIMITER_KEYS:
            *parents, leaf = dotted.split(".")
            node = settings
            for parent in parents:
                node = node.setdefault(parent, {})
            node[leaf] = dict(_RELAXED_LIMIT)
        return cls(settings)

    @classmethod
    def synapse_defaults(cls) -> RateLimits:
        return cls({})

    def override(self, **limits: Mapping[str, Any]) -> RateLimits:
        """Deep-merge so ``override(rc_login={"account": {...}})`` keeps the other login limiters."""
        return RateLimits(_deep_merge(self.settings, limits))


@dataclass(frozen=True)
class SandboxState:
    """What must survive restarts, unlike homeserver.yaml which is rewritten on every start (the
    port may change). Synapse binds its database to ``server_name`` for good, and the macaroon key
    signs tokens that outlive a process (guest access tokens), so neither may change."""

    server_name: str
    registration_shared_secret: str
    macaroon_secret_key: str
    form_secret: str

    @classmethod
    def generate(cls, server_name: str) -> SandboxState:
        return cls(
            server_name=server_name,
            registration_shared_secret=secrets.token_urlsafe(32),
            macaroon_secret_key=secrets.token_urlsafe(32),
            form_secret=secrets.token_urlsafe(32),
        )

    @classmethod
    def load(cls, path: Path) -> SandboxState | None:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        return cls(
            server_name=str(raw["server_name"]),
            registration_shared_secret=str(raw["registration_shared_secret"]),
            macaroon_secret_key=str(raw["macaroon_secret_key"]),
            form_secret=str(raw["form_secret"]),
        )

    def save(self, path: Path) -> None:
        write_private_json(
            path,
            {
                "server_name": self.server_name,
                "registration_shared_secret": self.registration_shared_secret,
                "macaroon_secret_key": self.macaroon_secret_key,
                "form_secret": self.form_secret,
            },
        )


def write_private_json(path: Path, document: Mapping[str, Any]) -> None:
    """Atomic (a crash never leaves half a config behind) and owner-only, since it holds secrets."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(document, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)


def log_config(data_dir: Path, level: str = "WARNING") -> dict[str, Any]:
    """File-only logging: Synapse's INFO chatter would otherwise drown test output and the CLI."""
    return {
        "version": 1,
        "formatters": {
            "precise": {
                "format": "%(asctime)s - %(name)s - %(lineno)d - %(levelname)s - %(request)s - %(message)s"
            }
        },
        "handlers": {
            "file": {
                "class": "logging.FileHandler",
                "formatter": "precise",
                "filename": str(data_dir / LOG_FILE),
                "encoding": "utf8",
            }
        },
        "loggers": {
            # Never lower this one to DEBUG: it logs access tokens.
            "synapse.storage.SQL": {"level": "WARNING"},
        },
        "root": {"level": level, "handlers": ["file"]},
        "disable_existing_loggers": False,
    }


def homeserver_config(
    *,
    data_dir: Path,
    state: SandboxState,
    port: int,
    rate_limits: RateLimits,
    allow_registration: bool = False,
    bcrypt_rounds: int = 4,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A homeserver.yaml for a single-process Synapse that talks to 127.0.0.1 only.

    No federation listener and an empty federation whitelist (so Synapse refuses every outbound
    federation request instead of trying DNS), no trusted key servers (the default is matrix.org),
    no URL previews, no stats reporting, no metrics. ``bcrypt_rounds`` defaults to bcrypt's
    minimum because registration and login hash passwords on the request path (12 rounds cost
    ~0.25 s each) and a sandbox's passwords protect nothing.
    """
    config: dict[str, Any] = {
        "server_name": state.server_name,
        "public_baseurl": f"http://127.0.0.1:{port}/",
        "listeners": [
            {
                "port": port,
                "bind_addresses": ["127.0.0.1"],
                "type": "http",
                "tls": False,
                "x_forwarded": False,
                # "client" also serves /_synapse/admin and the media repository.
                "resources": [{"names": ["client"], "compress": False}],
            }
        ],
        "database": {
            "name": "sqlite3",
            "args": {"database": str(data_dir / DATABASE_FILE)},
        },
        "log_config": str(data_dir / LOG_CONFIG_FILE),
        "media_store_path": str(data_dir / MEDIA_DIR),
        "signing_key_path": str(data_dir / SIGNING_KEY_FILE),
        "registration_shared_secret": state.registration_shared_secret,
        "macaroon_secret_key": state.macaroon_secret_key,
        "form_secret": state.form_secret,
        "enable_registration": allow_registration,
        "enable_registration_without_verification": allow_registration,
        "bcrypt_rounds": bcrypt_rounds,
        # --- nothing leaves this machine ---
        "report_stats": False,
        "enable_metrics": False,
        "trusted_key_servers": [],
        "suppress_key_server_warning": True,
        "federation_domain_whitelist": [],
        "allow_public_rooms_over_federation": False,
        "url_preview_enabled": False,
        "enable_3pid_lookup": False,
        "serve_server_wellknown": False,
        **rate_limits.settings,
    }
    if extra:
        config = _deep_merge(config, extra)
    return config
