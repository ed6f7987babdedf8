"""The `[limits]` section, `[server] cors_origins / metrics` and the `[auth]` clock settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.config import Config, Limits, load_config
from server.errors import ConfigError

__all__: list[str] = []


def _load(tmp_path: Path, text: str) -> Config:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return load_config(path, env={})


def test_defaults_are_convex_like(tmp_path: Path) -> None:
    cfg = _load(tmp_path, "")
    assert cfg.limits == Limits()
    assert cfg.limits.document_bytes == 1024 * 1024
    assert cfg.limits.args_bytes == cfg.limits.result_bytes == 16 * 1024 * 1024
    assert cfg.limits.document_depth == 16
    assert cfg.server.cors_origins == ("*",)
    assert cfg.server.metrics == "public"
    assert cfg.server.metrics_address is None
    assert (cfg.auth.clock_leeway, cfg.auth.max_token_lifetime) == (5.0, 0.0)


def test_limits_are_read_and_checked(tmp_path: Path) -> None:
    cfg = _load(tmp_path, "[limits]\ndocument_bytes = 2048\nqueries_per_connection = 7\n")
    assert cfg.limits.document_bytes == 2048
    assert cfg.limits.queries_per_connection == 7
    assert cfg.limits.result_bytes == Limits().result_bytes
    with pytest.raises(ConfigError, match=r"limits\.document_bytes: must be at least 1"):
        _load(tmp_path, "[limits]\ndocument_bytes = 0\n")
    with pytest.raises(ConfigError, match=r"limits\.args_bytes: expected int"):
        _load(tmp_path, '[limits]\nargs_bytes = "16M"\n')
    with pytest.raises(ConfigError, match=r"limits\.document_size: unknown key"):
        _load(tmp_path, "[limits]\ndocument_size = 1\n")


def test_cors_origins_must_be_origins(tmp_path: Path) -> None:
    cfg = _load(
        tmp_path, '[server]\ncors_origins = ["https://a.example", "http://localhost:5173"]\n'
    )
    assert cfg.server.cors_origins == ("https://a.example", "http://localhost:5173")
    with pytest.raises(ConfigError, match=r"server\.cors_origins: 'https://a\.example/' is not"):
        _load(tmp_path, '[server]\ncors_origins = ["https://a.example/"]\n')
    with pytest.raises(ConfigError, match=r"server\.cors_origins: expected an array"):
        _load(tmp_path, '[server]\ncors_origins = "https://a.example"\n')


def test_metrics_is_public_off_or_an_address(tmp_path: Path) -> None:
    assert _load(tmp_path, '[server]\nmetrics = "off"\n').server.metrics == "off"
    cfg = _load(tmp_path, '[server]\nmetrics = "127.0.0.1:9100"\n')
    assert cfg.server.metrics_address == ("127.0.0.1", 9100)
    assert _load(tmp_path, '[server]\nmetrics = "[::1]:9100"\n').server.metrics_address == (
        "::1",
        9100,
    )
    with pytest.raises(ConfigError, match=r'server\.metrics: expected "public", "off"'):
        _load(tmp_path, '[server]\nmetrics = "private"\n')


def test_auth_clock_settings(tmp_path: Path) -> None:
    cfg = _load(tmp_path, "[auth]\nclock_leeway = 30\nmax_token_lifetime = 3600\n")
    assert (cfg.auth.clock_leeway, cfg.auth.max_token_lifetime) == (30.0, 3600.0)
    with pytest.raises(ConfigError, match=r"auth\.clock_leeway: must be 0 or more"):
        _load(tmp_path, "[auth]\nclock_leeway = -1\n")


def test_backpressure_settings(tmp_path: Path) -> None:
    cfg = _load(tmp_path, "[server]\nsend_timeout = 2.5\nmax_inbox_bytes = 1048576\n")
    assert (cfg.server.send_timeout, cfg.server.max_inbox_bytes) == (2.5, 1048576)
    with pytest.raises(ConfigError, match=r"server\.send_timeout and server\.max_inbox_bytes"):
        _load(tmp_path, "[server]\nsend_timeout = 0\n")
