from __future__ import annotations

import pytest

from server import api, internal, internal_query
from server.errors import ConfigError, FunctionError, FunctionNotFound
from server.functions.references import function_path
from server.functions.registry import FunctionRegistry, camel_case
from server.store.base import IndexDef

MESSAGES = """
from server import mutation, query, v
from .helpers import greeting

@query(args={"channel": v.string()})
async def list(ctx, channel):
    return greeting(channel)

@query()
async def get_for_current_user(ctx):
    return None

@mutation(args={"body": v.string()}, name="post")
async def send(ctx, body):
    return body

NOT_A_FUNCTION = 3
"""

HELPERS = """
def greeting(name):
    return "hello " + name
"""

ADMIN = """
from server import action

@action
async def purge(ctx):
    return None
"""

SCHEMA = """
from server import define_schema, define_table, v

schema = define_schema({
    "messages": define_table({"channel": v.string(), "body": v.string()})
        .index("by_channel", ["channel"]),
})
"""


def test_load_registers_modules_subfolders_and_aliases(make_app):
    root = make_app(
        {
            "messages.py": MESSAGES,
            "helpers.py": HELPERS,
            "admin/users.py": ADMIN,
            "_private.py": "raise RuntimeError('never imported')",
            "schema.py": SCHEMA,
        }
    )
    registry = FunctionRegistry.load(root)
    assert registry.paths() == [
        "admin/users:purge",
        "messages:get_for_current_user",
        "messages:list",
        "messages:post",
    ]
    camel = registry.lookup("messages:getForCurrentUser")
    assert camel.path == "messages:get_for_current_user"
    assert camel.kind == "query"
    assert registry.lookup("admin/users:purge").kind == "action"


async def test_sibling_relative_import_works_inside_the_app(make_app):
    registry = FunctionRegistry.load(make_app({"messages.py": MESSAGES, "helpers.py": HELPERS}))
    handler = registry.lookup("messages:list").handler
    assert await handler(None, channel="general") == "hello general"


def test_two_apps_with_the_same_module_names_load_side_by_side(make_app):
    one = FunctionRegistry.load(
        make_app({"m.py": "from server import query\n@query()\nasync def f(ctx):\n    return 1\n"})
    )
    two = FunctionRegistry.load(
        make_app({"m.py": "from server import query\n@query()\nasync def f(ctx):\n    return 2\n"})
    )
    assert one.lookup("m:f").handler is not two.lookup("m:f").handler


def test_schema_indexes_end_with_creation_time(make_app):
    registry = FunctionRegistry.load(
        make_app({"messages.py": MESSAGES, "helpers.py": HELPERS, "schema.py": SCHEMA})
    )
    assert registry.index_defs() == [
        IndexDef("messages", "messages.by_channel", ("channel", "_creationTime"))
    ]


def test_no_schema_means_no_indexes(make_app):
    registry = FunctionRegistry.load(make_app({"admin/users.py": ADMIN}))
    assert registry.schema is None
    assert registry.index_defs() == []


def test_camel_case_alias_clash_is_a_config_error_naming_both(make_app):
    source = """
from server import query

@query()
async def get_user(ctx):
    return 1

@query()
async def getUser(ctx):
    return 2
"""
    with pytest.raises(ConfigError) as caught:
        FunctionRegistry.load(make_app({"users.py": source}))
    message = str(caught.value)
    assert "users:getUser" in message
    assert "users.py:get_user" in message and "users.py:getUser" in message


def test_module_that_fails_to_import_names_the_file(make_app):
    root = make_app({"broken.py": "import does_not_exist_anywhere\n"})
    with pytest.raises(ConfigError, match=r"broken\.py"):
        FunctionRegistry.load(root)


def test_non_async_handler_is_refused_at_load(make_app):
    root = make_app({"sync.py": "from server import query\n@query()\ndef f(ctx):\n    return 1\n"})
    with pytest.raises(ConfigError, match="async def"):
        FunctionRegistry.load(root)


def test_schema_file_without_schema_is_a_config_error(make_app):
    with pytest.raises(ConfigError, match="schema"):
        FunctionRegistry.load(make_app({"schema.py": "x = 1\n"}))


def test_lookup_of_unknown_path_says_so(make_app):
    registry = FunctionRegistry.load(make_app({"admin/users.py": ADMIN}))
    with pytest.raises(FunctionNotFound, match="Could not find public function for 'x:y'"):
        registry.lookup("x:y")


def test_lookup_with_wrong_kind_names_both_kinds(make_app):
    registry = FunctionRegistry.load(make_app({"admin/users.py": ADMIN}))
    with pytest.raises(FunctionNotFound, match="as Query, but it is defined as Action"):
        registry.lookup("admin/users:purge", "query")


def test_camel_case_conversion():
    assert camel_case("get_for_current_user") == "getForCurrentUser"
    assert camel_case("list") == "list"
    assert camel_case("_internal_thing") == "_internalThing"


INTERNALS = """
from server import action, api, internal, internal_mutation, internal_query

@internal_query()
async def count(ctx):
    return 0

@internal_mutation(name="wipe")
async def wipe_everything(ctx):
    return None

@action()
async def public_one(ctx):
    return None
"""


def test_internal_functions_are_found_only_by_server_side_callers(make_app):
    registry = FunctionRegistry.load(make_app({"jobs.py": INTERNALS}))
    assert registry.paths() == ["jobs:count", "jobs:public_one", "jobs:wipe"]
    for path in ("jobs:count", "jobs:wipe"):
        with pytest.raises(FunctionNotFound) as refused:
            registry.lookup(path)
        with pytest.raises(FunctionNotFound) as unknown:
            registry.lookup("jobs:absent")
        assert str(refused.value).replace(path, "P") == str(unknown.value).replace(
            "jobs:absent", "P"
        )
        assert registry.lookup(path, internal_ok=True).internal
    assert registry.lookup("jobs:count", "query", internal_ok=True).kind == "query"
    assert not registry.lookup("jobs:publicOne").internal


def test_functions_are_named_by_path_reference_or_handler(make_app):
    registry = FunctionRegistry.load(make_app({"jobs.py": INTERNALS, "admin/users.py": ADMIN}))
    jobs = registry.lookup("jobs:count", internal_ok=True).handler
    assert function_path("jobs:count", registry) == "jobs:count"
    assert function_path(internal.jobs.count, registry) == "jobs:count"
    assert function_path(internal.jobs.wipe, registry) == "jobs:wipe"
    assert function_path(api.admin.users.purge, registry) == "admin/users:purge"
    assert function_path(api.jobs.publicOne, registry) == "jobs:publicOne"
    assert function_path(jobs, registry) == "jobs:count"
    assert function_path(api.jobs.absent, registry) == "jobs:absent"  # fails when called
    assert repr(internal.jobs.count) == "internal.jobs.count"
    with pytest.raises(FunctionError, match="refer to it as internal.jobs.count"):
        function_path(api.jobs.count, registry)
    with pytest.raises(FunctionError, match="refer to it as api.jobs.public_one"):
        function_path(internal.jobs.public_one, registry)
    with pytest.raises(FunctionError, match="names a module"):
        function_path(api.jobs, registry)
    with pytest.raises(FunctionError, match="not a function of this app"):
        function_path(_stray, registry)
    with pytest.raises(FunctionError, match="Expected a function path"):
        function_path(42, registry)  # type: ignore[arg-type]


@internal_query()
async def _stray(ctx: object) -> None:
    """Decorated, but not in any loaded app."""
