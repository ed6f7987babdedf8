"""What `livesync serve` and `livesync dev` check before the port listens.

A user's setup fails start-up in a few ways: a functions folder that is not
there, a function file that does not import, a database that cannot be
opened, a port already taken. Each is found before the server accepts a
connection and reported as one line naming the file (and line) at fault and
the config key or flag that changes it; the CLI prints it and exits 2.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from server.config import Config
from server.errors import ConfigError
from server.functions.registry import FunctionRegistry

__all__ = ["Origins", "key_line", "load_functions", "locate"]

_SECTION = re.compile(r"^\s*\[\s*([A-Za-z0-9_.]+)\s*\]")
# How a config error names its key: "server.port: expected int, got 'x'".
_KEY_AT_FAULT = re.compile(r"^([A-Za-z_]+)\.([A-Za-z_]+)\b")


def key_line(text: str, section: str, key: str) -> int | None:
    """The line (from 1) setting `key` in the `[section]` table of TOML
    `text`, or None. Only plain `key = value` lines count, which is what a
    config.toml holds."""
    current = ""
    assignment = re.compile(rf"^\s*{re.escape(key)}\s*=")
    for number, line in enumerate(text.splitlines(), start=1):
        header = _SECTION.match(line)
        if header is not None:
            current = header.group(1)
        elif current == section and assignment.match(line):
            return number
    return None


def locate(config_file: Path, message: str) -> str:
    """A config error's `message` prefixed with the file, and the line that
    sets the key it names when there is one."""
    if message.startswith(str(config_file)):
        return message  # it names the file already (unreadable, not TOML)
    match = _KEY_AT_FAULT.match(message)
    line = None
    if match is not None:
        try:
            line = key_line(config_file.read_text(encoding="utf-8"), *match.groups())
        except OSError:
            pass
    return f"{config_file}:{line}: {message}" if line else f"{config_file}: {message}"


@dataclass(frozen=True, slots=True)
class Origins:
    """Where the settings came from: the config file read (None: defaults)
    and the command-line flags given."""

    config_file: Path | None
    flags: frozenset[str]

    def hint(self, section: str, key: str, flag: str) -> str:
        """How to change the setting `[section] key` (flag `flag`)."""
        if flag in self.flags:
            return f"(change {flag})"
        if self.config_file is None:
            return f"(pass {flag}, or run `livesync init` for a config.toml)"
        where = str(self.config_file)
        try:
            line = key_line(self.config_file.read_text(encoding="utf-8"), section, key)
        except OSError:
            line = None
        if line is not None:
            where = f"{where}:{line}"
        return f"(set [{section}] {key} in {where} or pass {flag})"


def load_functions(config: Config, origins: Origins) -> FunctionRegistry:
    """The app's functions. Raises `ConfigError` with one line: a missing
    folder names the setting, a broken module its file and line."""
    folder = config.functions.dir
    if not folder.is_dir():
        if origins.config_file is None and "--functions" not in origins.flags:
            raise ConfigError(
                f"no config.toml and no functions folder in {Path.cwd()}: "
                "start a project here with `livesync init`, or pass --config"
            )
        hint = origins.hint("functions", "dir", "--functions")
        raise ConfigError(f"functions folder {folder} does not exist {hint}")
    return FunctionRegistry.load(folder)
