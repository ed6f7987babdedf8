"""The dashboard's built-in functions (`_system/dashboard:*`) through the
official PyPI client holding the admin key, against a real server: tables,
live pages of documents by any index, edits through the schema that reach
an app's subscription, the function list and health. Without the key (no
token, or an app user's token) none of them exists; an app cannot define
one; and a dev reload keeps them, describing the new code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from convex import ConvexClient

from server.config import Config, DatabaseConfig, FunctionsConfig
from server.errors import ConfigError
from server.functions.registry import FunctionRegistry
from tests.helpers.api import admin_client
from tests.helpers.server import DevServer, LivesyncServer, StartServer
from tests.helpers.timeouts import REPLY

pytestmark = [pytest.mark.compat, pytest.mark.timeout(90)]

FUNCTIONS = Path(__file__).resolve().parent / "dashboard_functions"
SCHEMALESS = Path(__file__).resolve().parent / "functions"  # `work:add` writes "notes"
DASHBOARD = "_system/dashboard"
EVERY_FUNCTION = {
    "tables": {},
    "documents": {"table": "tasks", "paginationOpts": {"numItems": 5, "cursor": None}},
    "functions": {},
    "health": {},
    "logs": {"paginationOpts": {"numItems": 5, "cursor": None}},
    "insertDocument": {"table": "tasks", "document": {}},
    "patchDocument": {"id": "x", "fields": {}},
    "replaceDocument": {"id": "x", "document": {}},
    "deleteDocument": {"id": "x"},
}
NOT_FOUND = "Could not find public function"


def page(client: ConvexClient, cursor: str | None = None, **args: Any) -> Any:
    opts = {"numItems": args.pop("num_items", 10), "cursor": cursor}
    return client.query(
        f"{DASHBOARD}:documents", {"table": "tasks", "paginationOpts": opts, **args}
    )


def texts(docs: list[dict[str, Any]]) -> list[str]:
    return [doc["text"] for doc in docs]


@pytest.fixture
def server(start_server: StartServer) -> LivesyncServer:
    return start_server(FUNCTIONS)


def test_tables_lists_schema_tables_tables_with_data_and_system_tables(
    server: LivesyncServer,
) -> None:
    client = admin_client(server)
    client.mutation(f"{DASHBOARD}:insertDocument", {"table": "notes", "document": {"n": 1}})
    tables = {t["name"]: t for t in client.query(f"{DASHBOARD}:tables")}
    assert list(tables)[:2] == ["notes", "tasks"]  # app tables first, then system ones
    assert tables["tasks"]["inSchema"] and tables["tasks"]["empty"]
    assert [i["name"] for i in tables["tasks"]["indexes"]] == [
        "by_creation_time",
        "by_id",
        "by_priority",
    ]
    assert tables["tasks"]["documentValidator"]["value"]["text"] == {
        "fieldType": {"type": "string"},
        "optional": False,
    }
    assert not tables["notes"]["inSchema"] and not tables["notes"]["empty"]
    assert tables["_scheduled_functions"]["system"] and not tables["tasks"]["system"]


def test_the_table_list_is_live_for_a_new_table_outside_the_schema(
    start_server: StartServer,
) -> None:
    # An app with no schema, on a server where nothing else re-runs the list:
    # no node refresh and no function log while the test runs, and the table
    # catalog holds an entry already (the list reads each table's first
    # document, the catalog's too, so its very first entry would re-run it).
    # Only reading the catalog whole makes the list follow a new table.
    extra = "node_refresh = 3600\nfunction_log_entries = 0\n"
    server = start_server(SCHEMALESS, server_extra=extra)
    client, app = admin_client(server), ConvexClient(server.url)
    client.mutation(f"{DASHBOARD}:insertDocument", {"table": "earlier", "document": {"n": 1}})
    updates = client.subscribe(f"{DASHBOARD}:tables")
    assert "notes" not in {t["name"] for t in next(updates)}
    app.mutation("work:add", {"text": "the first note"})
    for listed in updates:
        tables = {t["name"]: t for t in listed}
        if "notes" in tables:
            break
    assert not tables["notes"]["inSchema"] and not tables["notes"]["empty"]
    assert list(tables)[:2] == ["earlier", "notes"] and not tables["notes"]["system"]
    updates.unsubscribe()


def test_documents_page_by_any_index_either_way_with_filters(server: LivesyncServer) -> None:
    client = admin_client(server)
    for n, priority in enumerate([5, 1, 4, 2, 3]):
        client.mutation("tasks:add", {"text": f"t{n}", "priority": priority})
    first = page(client, index="by_priority", order="desc", num_items=2)
    assert texts(first["page"]) == ["t0", "t2"] and not first["isDone"]
    rest = page(client, first["continueCursor"], index="by_priority", order="desc")
    assert texts(rest["page"]) == ["t4", "t3", "t1"] and rest["isDone"]
    assert texts(page(client, order="asc")["page"]) == ["t0", "t1", "t2", "t3", "t4"]
    filtered = page(client, filters=[{"field": "priority", "op": "gte", "value": 3}])
    assert texts(filtered["page"]) == ["t0", "t2", "t4"]
    both = [
        {"field": "priority", "op": "lt", "value": 5},
        {"field": "text", "op": "neq", "value": "t1"},
    ]
    assert texts(page(client, filters=both)["page"]) == ["t2", "t3", "t4"]
    with pytest.raises(Exception, match="Index tasks.by_nothing not found"):
        page(client, index="by_nothing")
    with pytest.raises(Exception, match="ArgumentValidationError"):
        page(client, filters=[{"field": "text", "op": "like", "value": "t"}])


def test_a_page_of_documents_is_live(server: LivesyncServer) -> None:
    client, app = admin_client(server), ConvexClient(server.url)
    args = {"table": "tasks", "paginationOpts": {"numItems": 10, "cursor": None}}
    updates = client.subscribe(f"{DASHBOARD}:documents", args)
    assert next(updates)["page"] == []
    app.mutation("tasks:add", {"text": "from the app", "priority": 1})
    assert texts(next(updates)["page"]) == ["from the app"]
    updates.unsubscribe()


def test_edits_are_checked_by_the_schema_and_reach_an_apps_subscription(
    server: LivesyncServer,
) -> None:
    client, app = admin_client(server), ConvexClient(server.url)
    seen = app.subscribe("tasks:list")
    assert next(seen) == []
    new = {"text": "by the admin", "done": False, "priority": 2}
    id = client.mutation(f"{DASHBOARD}:insertDocument", {"table": "tasks", "document": new})
    assert texts(next(seen)) == ["by the admin"]

    # Shown fields pasted back (_id, _creationTime) are not written.
    shown = client.query("tasks:list")[0]
    edited = {**shown, "text": "edited"}
    client.mutation(f"{DASHBOARD}:replaceDocument", {"id": id, "document": edited})
    assert texts(next(seen)) == ["edited"]
    client.mutation(f"{DASHBOARD}:patchDocument", {"id": id, "fields": {"done": True}})
    assert next(seen)[0]["done"] is True

    for name, args in (
        ("insertDocument", {"table": "tasks", "document": {"text": "no priority"}}),
        ("patchDocument", {"id": id, "fields": {"priority": "high"}}),
        ("replaceDocument", {"id": id, "document": {"text": 5}}),
    ):
        with pytest.raises(Exception, match="does not match the schema"):
            client.mutation(f"{DASHBOARD}:{name}", args)
    assert [(t["text"], t["done"], t["priority"]) for t in client.query("tasks:list")] == [
        ("edited", True, 2)
    ]

    client.mutation(f"{DASHBOARD}:deleteDocument", {"id": id})
    assert next(seen) == []
    with pytest.raises(Exception, match="nonexistent document"):
        client.mutation(f"{DASHBOARD}:deleteDocument", {"id": id})
    seen.unsubscribe()


def test_system_tables_are_read_only(server: LivesyncServer) -> None:
    client = admin_client(server)
    with pytest.raises(Exception, match="_scheduled_functions is a system table"):
        client.mutation(
            f"{DASHBOARD}:insertDocument",
            {"table": "_scheduled_functions", "document": {"name": "x"}},
        )
    with pytest.raises(Exception, match="Invalid table name"):
        client.mutation(f"{DASHBOARD}:insertDocument", {"table": "_mine", "document": {}})


def test_functions_and_health_describe_the_app_and_the_server(server: LivesyncServer) -> None:
    client = admin_client(server)
    functions = {f["path"]: f for f in client.query(f"{DASHBOARD}:functions")}
    assert sorted(functions) == [
        "tasks:add",
        "tasks:count",
        "tasks:hello",
        "tasks:list",
        "tasks:shout",
    ]
    assert functions["tasks:add"] == {
        "path": "tasks:add",
        "kind": "mutation",
        "visibility": "public",
        "args": {
            "type": "object",
            "value": {
                "priority": {"fieldType": {"type": "number"}, "optional": False},
                "text": {"fieldType": {"type": "string"}, "optional": False},
            },
        },
        "returns": None,
    }
    assert (functions["tasks:count"]["visibility"], functions["tasks:count"]["args"]) == (
        "internal",
        None,
    )
    health = client.query(f"{DASHBOARD}:health")
    assert health["storeBackend"] == "sqlite"
    assert health["functionCount"] == 5
    assert health["functionsDir"] == str(FUNCTIONS)
    assert health["version"] and health["nodeId"]
    assert health["startedAt"] > 0
    assert health["devIssuer"] is None  # `serve` has none
    (node,) = health["nodes"]  # `_nodes`: this one server
    assert node["nodeId"] == health["nodeId"] and node["url"] == server.url


def assert_unreachable(client: ConvexClient, url: str, headers: dict[str, str]) -> None:
    """No dashboard function answers `client`, nor HTTP calls with `headers`."""
    for name, args in EVERY_FUNCTION.items():
        with pytest.raises(Exception, match=NOT_FOUND):
            if name.endswith("Document"):
                client.mutation(f"{DASHBOARD}:{name}", args)
            else:
                client.query(f"{DASHBOARD}:{name}", args)
        reply = httpx.post(
            f"{url}/api/function",
            json={"path": f"{DASHBOARD}:{name}", "args": args},
            headers=headers,
            timeout=REPLY,
        )
        assert NOT_FOUND in reply.json()["errorMessage"]


def test_without_the_admin_key_no_dashboard_function_exists(server: LivesyncServer) -> None:
    assert_unreachable(ConvexClient(server.url), server.url, {})
    assert page(admin_client(server))["page"] == []  # and nothing was written


def test_an_app_users_token_reaches_no_dashboard_function(tmp_path: Path) -> None:
    dev = DevServer(FUNCTIONS, tmp_path / "dev")
    dev.start()
    try:
        token = httpx.post(
            f"{dev.url}/dev-issuer/token", json={"sub": "mallory"}, timeout=REPLY
        ).json()["token"]
        user = ConvexClient(dev.url)
        user.set_auth(token)
        assert user.query("tasks:hello", {"greeting": "hi"}) == "hi, mallory"
        assert_unreachable(user, dev.url, {"authorization": f"Bearer {token}"})
        # Where the Functions view gets such a token to run a function as a user.
        assert admin_client(dev).query(f"{DASHBOARD}:health")["devIssuer"] == "/dev-issuer"
    finally:
        dev.stop()


def test_an_app_cannot_define_a_function_at_a_reserved_path(tmp_path: Path) -> None:
    (tmp_path / "sneaky.py").write_text(
        "from server import query\n\n"
        '@query(name="_system/dashboard:tables")\n'
        "async def tables(ctx):\n"
        "    return []\n"
    )
    with pytest.raises(ConfigError, match="reserved for livesync's built-in functions"):
        FunctionRegistry.load(tmp_path)


async def test_a_reload_keeps_the_dashboard_describing_the_new_code(tmp_path: Path) -> None:
    from server.app import LivesyncApp

    app_dir = tmp_path / "app"
    app_dir.mkdir()
    (app_dir / "notes.py").write_text(
        "from server import query\n\n@query()\nasync def first(ctx):\n    return 1\n"
    )
    config = Config(
        functions=FunctionsConfig(app_dir),
        database=DatabaseConfig(f"sqlite:///{tmp_path / 'reload.db'}"),
    )
    app = LivesyncApp(config, dev=True)
    await app.startup()
    try:
        (app_dir / "notes.py").write_text(
            "from server import query\n\n@query()\nasync def second(ctx):\n    return 2\n"
        )
        await app.use_functions(FunctionRegistry.load(app_dir))
        assert app.engine is not None
        outcome = await app.engine.run_query(
            f"{DASHBOARD}:functions", {}, None, app.engine.published_ts, internal_ok=True
        )
        assert [f["path"] for f in outcome.value] == ["notes:second"]
        health = await app.engine.run_query(
            f"{DASHBOARD}:health", {}, None, app.engine.published_ts, internal_ok=True
        )
        assert health.value["functionCount"] == 1
    finally:
        await app.shutdown()
