"""Settings: defaults, a TOML file, command-line overrides, and refusals in words."""

from __future__ import annotations

from pathlib import Path

import pytest

from venue.config import DEFAULT_RATE_LIMITS, ConfigError, load_settings


def test_defaults_follow_the_spec_rate_limits() -> None:
    settings = load_settings()
    assert (settings.host, settings.port, settings.durability) == ("127.0.0.1", 8080, "full")
    assert settings.rate_limits and settings.rate_limit_penalty_s == 60
    # spec §9: newest per-endpoint values
    assert settings.rate_limit_per_minute["book"] == 240
    assert settings.rate_limit_per_minute["ticker"] == 90
    assert settings.rate_limit_per_minute["trades"] == 15


def test_config_file_then_options(tmp_path: Path) -> None:
    config = tmp_path / "venue.toml"
    config.write_text(
        'port = 9000\ndata_dir = "data"\ndurability = "os"\nrate_limits = false\n'
        "[rate_limit_per_minute]\nbook = 600\n"
    )
    settings = load_settings(config, port=9100)
    assert settings.port == 9100  # the option wins over the file
    assert settings.data_dir == tmp_path / "data"  # relative to the file
    assert settings.durability == "os" and not settings.rate_limits
    assert settings.rate_limit_per_minute == {**DEFAULT_RATE_LIMITS, "book": 600}


@pytest.mark.parametrize(
    "text,message",
    [
        ("prot = 1\n", "unknown keys: prot"),
        ("port = [\n", "not valid TOML"),
        ('durability = "sometimes"\n', "durability must be one of full, os, none"),
        ("port = 70000\n", "port must be between 0 and 65535, was 70000"),
        ("tls_port = 8443\n", "needs --tls-cert and --tls-key, or --self-signed"),
        ("[rate_limit_per_minute]\nbook = 0\n", "rate limit for 'book' must be a positive integer"),
    ],
)
def test_bad_config_is_refused_with_the_reason(tmp_path: Path, text: str, message: str) -> None:
    config = tmp_path / "venue.toml"
    config.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_settings(config)


def test_missing_config_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_settings(tmp_path / "absent.toml")


def test_serve_takes_the_data_directory_from_the_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from venue.cli import _settings, build_parser

    monkeypatch.delenv("VENUE_DATA_DIR", raising=False)
    config = tmp_path / "venue.toml"
    config.write_text('data_dir = "from-config"\nport = 9001\n')
    args = build_parser().parse_args(["serve", "--config", str(config)])
    assert _settings(args).data_dir == tmp_path / "from-config"
    args = build_parser().parse_args(["serve", "--config", str(config), "--data-dir", str(tmp_path / "opt")])
    assert _settings(args).data_dir == tmp_path / "opt"
    monkeypatch.setenv("VENUE_DATA_DIR", str(tmp_path / "env"))
    args = build_parser().parse_args(["serve", "--config", str(config)])
    assert _settings(args).data_dir == tmp_path / "env"
