from __future__ import annotations

from pathlib import Path

import pytest

from server.config import load_config
from server.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_relative_paths_resolve_against_the_config_folder(tmp_path: Path) -> None:
    cfg = load_config(
        write(tmp_path, '[functions]\ndir = "fns"\n[database]\nurl = "sqlite:///d/x.db"\n'), env={}
    )
    assert cfg.functions.dir == (tmp_path / "fns").resolve()
    assert cfg.database.url == "sqlite:///" + str((tmp_path / "d/x.db").resolve())


def test_environment_variables_expand_with_defaults(tmp_path: Path) -> None:
    path = write(
        tmp_path, '[server]\nhost = "${H}"\nport = 1\n[database]\nurl = "${DB:-sqlite:///a.db}"\n'
    )
    cfg = load_config(path, env={"H": "0.0.0.0"})
    assert cfg.server.host == "0.0.0.0"
    assert cfg.database.url.endswith("/a.db")


def test_unset_variable_without_default_names_key_and_variable(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[[auth.providers]]\ndomain = "${CLERK_FRONTEND_API_URL}"\napplication_id = "convex"\n',
    )
    with pytest.raises(ConfigError, match=r"auth\.providers\[0\]\.domain.*CLERK_FRONTEND_API_URL"):
        load_config(path, env={})


def test_wrong_type_and_unknown_keys_are_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"server\.port: expected int"):
        load_config(write(tmp_path, '[server]\nport = "x"\n'), env={})
    with pytest.raises(ConfigError, match=r"server\.prot: unknown key"):
        load_config(write(tmp_path, "[server]\nprot = 1\n"), env={})
    with pytest.raises(ConfigError, match="unknown section"):
        load_config(write(tmp_path, "[serverr]\n"), env={})


def test_broken_toml_and_missing_file_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load_config(write(tmp_path, "[server\n"), env={})
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "nope.toml", env={})


def test_providers_are_parsed(tmp_path: Path) -> None:
    path = write(
        tmp_path, '[[auth.providers]]\ndomain = "https://a.example"\napplication_id = "convex"\n'
    )
    cfg = load_config(path, env={})
    assert len(cfg.auth.providers) == 1


def test_repository_config_loads(tmp_path: Path) -> None:
    cfg = load_config(Path(__file__).parents[2] / "config.toml", env={})
    assert cfg.server.port == 3210
    assert cfg.functions.dir.name == "functions"


def test_gc_full_interval_takes_an_integer_or_a_float(tmp_path: Path) -> None:
    assert (
        load_config(write(tmp_path, "[server]\ngc_full_interval = 0\n")).server.gc_full_interval
        == 0.0
    )
    assert (
        load_config(write(tmp_path, "[server]\ngc_full_interval = 2.5\n")).server.gc_full_interval
        == 2.5
    )
    with pytest.raises(ConfigError, match="server.gc_full_interval"):
        load_config(write(tmp_path, '[server]\ngc_full_interval = "often"\n'))


def test_mutation_dedup_window_defaults_to_ten_minutes_and_must_be_positive(
    tmp_path: Path,
) -> None:
    assert load_config(write(tmp_path, "[server]\n")).server.mutation_dedup_window == 600.0
    window = load_config(write(tmp_path, "[server]\nmutation_dedup_window = 60\n"))
    assert window.server.mutation_dedup_window == 60.0
    with pytest.raises(ConfigError, match="server.mutation_dedup_window: must be a positive"):
        load_config(write(tmp_path, "[server]\nmutation_dedup_window = 0\n"))


def test_function_limits_default_to_convex_and_can_be_set(tmp_path: Path) -> None:
    defaults = load_config(write(tmp_path, ""), env={}).functions
    assert (defaults.query_timeout, defaults.mutation_timeout) == (1.0, 1.0)
    assert (defaults.action_timeout, defaults.blocking_timeout) == (600.0, 1.0)
    path = write(
        tmp_path,
        "[functions]\nquery_timeout = 2\nmutation_timeout = 0.5\n"
        "action_timeout = 60\nblocking_timeout = 0.25\n",
    )
    cfg = load_config(path, env={})
    assert cfg.functions.query_timeout == 2.0 and cfg.functions.mutation_timeout == 0.5
    assert cfg.functions.action_timeout == 60.0 and cfg.functions.blocking_timeout == 0.25
    # --functions replaces the folder only.
    assert cfg.with_overrides(functions=str(tmp_path)).functions.query_timeout == 2.0


@pytest.mark.parametrize("value", ["0", "-1", "inf", "nan", '"1"'])
def test_function_limits_must_be_positive_seconds(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigError, match=r"functions\.query_timeout: expected"):
        load_config(write(tmp_path, f"[functions]\nquery_timeout = {value}\n"), env={})


def test_storage_settings_are_parsed_and_checked(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            '[storage]\ndir = "files"\nmax_file_bytes = 5\nupload_url_ttl = 30\n'
            'content_types = ["image/*"]\npublic_url = "https://chat.example/"\n',
        )
    )
    assert config.storage.dir == (tmp_path / "files").resolve()
    assert (config.storage.max_file_bytes, config.storage.upload_url_ttl) == (5, 30.0)
    assert config.storage.content_types == ("image/*",)
    assert config.storage.public_url == "https://chat.example"
    for bad, message in [
        ('[storage]\ncontent_types = ["image"]\n', "storage.content_types"),
        ("[storage]\nmax_file_bytes = 0\n", "must be more than 0"),
        ("[storage]\nbucket = 1\n", "storage.bucket: unknown key"),
    ]:
        with pytest.raises(ConfigError, match=message):
            load_config(write(tmp_path, bad))
