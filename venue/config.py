"""Server settings: one frozen object, read once at start-up.

Sources, later ones win: the defaults below, a TOML config file (``--config FILE``), then the
command-line options. Nothing reads settings from anywhere else at run time, so a running
server's behaviour is fully described by its ``Settings`` (printed by ``venue serve --help``).

Config file keys are the field names below, e.g.::

    host = "0.0.0.0"
    port = 8080
    data_dir = "/var/lib/venue"
    durability = "full"
    rate_limits = true
    [rate_limit_per_minute]
    book = 600
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

# Requests per minute per IP and endpoint, spec/bitfinex-v2.md §9 (newest values). The keys are
# the endpoint names the REST routes register under (venue/gateway/http_public.py); "auth" is
# the shared default of authenticated endpoints.
DEFAULT_RATE_LIMITS: dict[str, int] = {
    "platform/status": 30,
    "tickers": 30,
    "ticker": 90,
    "tickers/hist": 30,
    "trades": 15,
    "book": 240,
    "stats1": 15,
    "candles": 30,
    "conf": 90,
    "status/deriv": 90,
    "liquidations": 3,
    "rankings": 90,
    "calc/trade/avg": 90,
    "calc/fx": 90,
    "auth": 90,
}

# Exceeding a limit blocks the IP on that endpoint for this long (§9: "blocks the IP for 60 s").
DEFAULT_RATE_LIMIT_PENALTY_S = 60.0

DURABILITY_MODES = ("full", "os", "none")


class ConfigError(ValueError):
    """A config file or option that cannot be used, with the reason in words."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything a server needs to start. Paths are absolute once loaded."""

    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = Path("venue-data")
    # a second listener serving the same app over TLS (cryptofeed only speaks wss://)
    tls_port: int | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    self_signed: bool = False
    durability: str = "full"
    rate_limits: bool = True
    rate_limit_per_minute: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_RATE_LIMITS))
    rate_limit_penalty_s: float = DEFAULT_RATE_LIMIT_PENALTY_S
    # a Tick command this often lets tif expiries happen when nobody trades
    tick_interval_s: float = 1.0
    # how often the views persist their batches (history tables)
    flush_interval_s: float = 0.5
    # core snapshots every this many commands or seconds, whichever comes first (0 commands: no
    # snapshots, and so no compaction); the newest snapshot_keep are kept, and journal records
    # the oldest kept one covers are compacted away (store/snapshot.py)
    snapshot_every: int = 100_000
    snapshot_interval_s: float = 300.0
    snapshot_keep: int = 3
    markets_file: Path | None = None
    admin: bool = True
    # answer public GETs on the plain port without aiohttp's per-request objects (server.py)
    fast_path: bool = True
    # WebSocket limits (spec §7.7); 0 switches a limit off
    ws_connections_per_minute: int = 15
    ws_channel_limit: int = 30
    ws_max_buffer: int = 4_194_304
    ws_max_message: int = 65_536  # larger frames are answered with an error event
    ws_max_frame: int = 1_048_576  # larger frames close the connection (1009)

    def validate(self) -> "Settings":
        """Return self, or raise ConfigError naming the first bad value."""
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"port must be between 0 and 65535, was {self.port}")
        if self.tls_port is not None and not 0 <= self.tls_port <= 65535:
            raise ConfigError(f"tls_port must be between 0 and 65535, was {self.tls_port}")
        if self.durability not in DURABILITY_MODES:
            raise ConfigError(
                f"durability must be one of {', '.join(DURABILITY_MODES)}, was {self.durability!r}"
            )
        if self.tls_port is not None and not self.self_signed:
            if self.tls_cert is None or self.tls_key is None:
                raise ConfigError("a TLS port needs --tls-cert and --tls-key, or --self-signed")
        if self.tick_interval_s <= 0 or self.flush_interval_s <= 0:
            raise ConfigError("tick and flush intervals must be positive")
        if self.snapshot_every < 0 or self.snapshot_interval_s <= 0 or self.snapshot_keep < 1:
            raise ConfigError(
                "snapshot_every must be 0 or more, snapshot_interval_s positive, snapshot_keep 1 or more"
            )
        for name, limit in self.rate_limit_per_minute.items():
            if not isinstance(limit, int) or limit <= 0:
                raise ConfigError(
                    f"rate limit for {name!r} must be a positive integer, was {limit!r}"
                )
        return self


_PATH_FIELDS = {"data_dir", "tls_cert", "tls_key", "markets_file"}


def _coerce(name: str, value: Any, base: Path) -> Any:
    if name in _PATH_FIELDS and value is not None:
        path = Path(value).expanduser()
        return path if path.is_absolute() else (base / path)
    return value


def read_config_file(path: Path) -> dict[str, Any]:
    """The settings named in a TOML file; relative paths are relative to the file."""
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
    known = {f.name for f in fields(Settings)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"config file {path} has unknown keys: {', '.join(unknown)}")
    base = path.parent.resolve()
    values = {name: _coerce(name, value, base) for name, value in data.items()}
    if "rate_limit_per_minute" in values:
        # a file overrides single endpoints; the others keep the spec's numbers
        values["rate_limit_per_minute"] = {**DEFAULT_RATE_LIMITS, **values["rate_limit_per_minute"]}
    return values


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Defaults, then the config file, then ``overrides`` (None values are ignored)."""
    values: dict[str, Any] = {}
    if config_file is not None:
        values.update(read_config_file(config_file))
    cwd = Path.cwd()
    values.update(
        {name: _coerce(name, value, cwd) for name, value in overrides.items() if value is not None}
    )
    settings = replace(Settings(), **values)
    settings = replace(settings, data_dir=settings.data_dir.expanduser().resolve())
    return settings.validate()
