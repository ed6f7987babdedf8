"""`livesync init [DIR]`: a new project to start from.

It writes a config.toml (functions in ./functions, a SQLite database in
./data, the dev defaults), a functions folder with a schema, one query and
one mutation, and a .gitignore, then says what to run next. Nothing is
overwritten: if any of the files is there already, nothing is written.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

from server.errors import ConfigError

__all__ = ["PROJECT_FILES", "init_project", "next_command"]

CONFIG = """\
# livesync project: run `livesync dev` in this folder. Relative paths
# resolve against this file's folder; ${VAR} and ${VAR:-default} expand from
# the environment. Every key and its default: the config.toml of livesync.

[server]
host = "127.0.0.1"
port = 3210

[functions]
# Function modules (tasks.py exporting `list` answers to "tasks:list"), and
# the optional schema.py (tables and indexes) and crons.py.
dir = "functions"

[database]
# postgresql://user:password@host/db to run several servers on one database.
url = "sqlite:///data/livesync.db"
"""

SCHEMA = '''\
"""The app's tables and their indexes. Change it while `livesync dev` runs:
new indexes are built from the documents already stored."""

from server import define_schema, define_table, v

schema = define_schema(
    {
        "tasks": define_table({"text": v.string(), "done": v.boolean()}),
    }
)
'''

TASKS = '''\
"""Tasks: a query and a mutation to start from. `livesync dev` reloads this
file when you save it, and subscribed clients get the new results."""

from server import mutation, query, v


@query()
async def list(ctx):
    """The newest 100 tasks, newest first."""
    return await ctx.db.query("tasks").order("desc").take(100)


@mutation(args={"text": v.string()})
async def add(ctx, text):
    """Add a task; returns its id."""
    return await ctx.db.insert("tasks", {"text": text, "done": False})
'''

GITIGNORE = """\
# livesync: the database, stored files and dev issuer keys
data/
__pycache__/
*.pyc
"""

# Relative path -> contents, in the order they are written.
PROJECT_FILES: dict[str, str] = {
    "config.toml": CONFIG,
    "functions/schema.py": SCHEMA,
    "functions/tasks.py": TASKS,
    ".gitignore": GITIGNORE,
}


def init_project(folder: Path) -> list[Path]:
    """Write the project's files into `folder` (made if missing); returns
    them. Raises `ConfigError`, writing nothing, if one exists already."""
    targets = [folder / name for name in PROJECT_FILES]
    for target in targets:
        if target.exists():
            raise ConfigError(f"{target} already exists; livesync init overwrites nothing")
    try:
        for target, text in zip(targets, PROJECT_FILES.values(), strict=True):
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("x", encoding="utf-8") as out:  # "x": never clobber
                out.write(text)
    except OSError as exc:
        raise ConfigError(f"cannot write {exc.filename}: {exc.strerror}") from None
    return targets


def next_command(folder: Path) -> str:
    """What to run to start the project in `folder`, from the cwd."""
    if folder.resolve() == Path.cwd().resolve():
        return "livesync dev"
    return f"cd {shlex.quote(os.fspath(folder))} && livesync dev"
