"""The dashboard's functions: built-in internal functions at `_system/dashboard:*`.

`install_dashboard` adds them to a registry before it serves (at start-up
and at every `livesync dev` reload). Being internal, they answer only a
caller holding the admin key; app modules cannot define a path starting with
`_` (see `FunctionRegistry`), so none can shadow them. They read and write
through the same `ctx.db` as app functions: the document views are live
queries, and an edit is a mutation checked against the schema whose commit
reaches every subscriber.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from server.admin.nodes import NodeInfo
from server.config import Config
from server.errors import FunctionError
from server.functions.context import MutationCtx, QueryCtx
from server.functions.decorators import FunctionKind
from server.functions.filters import Expression, FilterBuilder
from server.functions.pagination import pagination_opts_validator
from server.functions.registry import FunctionRegistry, RegisteredFunction
from server.functions.schema import Schema
from server.functions.validators import Validator, v
from server.store.catalog import (
    BY_CREATION_TIME,
    BY_ID,
    FUNCTION_LOGS,
    NODES,
    SYSTEM_TABLES,
    TABLES,
)

__all__ = ["MODULE", "SYSTEM_PREFIX", "ServerFacts", "install_dashboard"]

SYSTEM_PREFIX = "_system/"
MODULE = SYSTEM_PREFIX + "dashboard"

# A filter condition's operator -> the FilterBuilder method it calls.
_OPERATORS: dict[str, Callable[[FilterBuilder, Expression, Any], Expression]] = {
    "eq": FilterBuilder.eq,
    "neq": FilterBuilder.neq,
    "lt": FilterBuilder.lt,
    "lte": FilterBuilder.lte,
    "gt": FilterBuilder.gt,
    "gte": FilterBuilder.gte,
}
_SYSTEM_FIELDS = ("_id", "_creationTime")


@dataclass(frozen=True, slots=True)
class ServerFacts:
    """What the Health view shows of this server process."""

    version: str
    store_backend: str  # "sqlite" or "postgresql"
    node_id: str
    started_at: float  # ms since the epoch: the page counts the uptime from it
    functions_dir: str
    # The path of the dev issuer on this server (`livesync dev`), where the
    # Functions view gets a real token for the user a function runs as.
    dev_issuer: str | None = None

    @classmethod
    def of(cls, node: NodeInfo, config: Config, dev_issuer: str | None = None) -> ServerFacts:
        """The facts of this process, the node `node` describes."""
        return cls(
            version=node.version,
            store_backend=node.backend,
            node_id=node.node_id,
            started_at=node.started_at * 1000,
            functions_dir=str(config.functions.dir),
            dev_issuer=dev_issuer,
        )


def install_dashboard(registry: FunctionRegistry, facts: ServerFacts) -> None:
    """Add the dashboard's functions to `registry`, describing it."""
    for function in _functions(registry, facts):
        registry.add(function)


def _functions(registry: FunctionRegistry, facts: ServerFacts) -> list[RegisteredFunction]:
    async def tables(ctx: QueryCtx) -> list[dict[str, Any]]:
        schema = registry.schema
        # The catalog of table names, read like any data: the list re-runs
        # when a table gets its first document.
        catalogued = await ctx.db.system.query(TABLES).collect()
        names = set(SYSTEM_TABLES) | {doc["name"] for doc in catalogued}
        if schema is not None:
            names |= set(schema.tables)
        # One read of each table's first document: the list shows which are
        # empty, and re-runs when one fills up or empties.
        return [
            _describe_table(name, schema, await ctx.db.query(name).first() is None)
            for name in sorted(names, key=lambda name: (name.startswith("_"), name))
        ]

    async def documents(
        ctx: QueryCtx,
        table: str,
        paginationOpts: dict[str, Any],  # Convex's name, as usePaginatedQuery sends it
        index: str | None = None,
        order: str | None = None,
        filters: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        query = ctx.db.query(table).with_index(index or BY_CREATION_TIME)
        query = query.order("desc" if order == "desc" else "asc")
        for condition in filters or []:
            query = query.filter(_condition(condition))
        return await query.paginate(paginationOpts)

    async def insert_document(ctx: MutationCtx, table: str, document: Any) -> str:
        _writable(table)
        return await ctx.db.insert(table, _user_document(document))

    async def patch_document(ctx: MutationCtx, id: str, fields: Any) -> None:
        await _writable_document(ctx, id)
        await ctx.db.patch(id, _user_document(fields))

    async def replace_document(ctx: MutationCtx, id: str, document: Any) -> None:
        await _writable_document(ctx, id)
        await ctx.db.replace(id, _user_document(document))

    async def delete_document(ctx: MutationCtx, id: str) -> None:
        await _writable_document(ctx, id)
        await ctx.db.delete(id)

    async def functions(ctx: QueryCtx) -> list[dict[str, Any]]:
        return [
            _describe_function(function)
            for function in registry.functions()
            if not function.path.startswith(SYSTEM_PREFIX)
        ]

    async def health(ctx: QueryCtx) -> dict[str, Any]:
        app_functions = [p for p in registry.paths() if not p.startswith(SYSTEM_PREFIX)]
        return {
            "version": facts.version,
            "storeBackend": facts.store_backend,
            "nodeId": facts.node_id,
            "startedAt": facts.started_at,
            "functionsDir": facts.functions_dir,
            "functionCount": len(app_functions),
            "devIssuer": facts.dev_issuer,
            # Every node serving the deployment (this one included), live.
            "nodes": await ctx.db.system.query(NODES).collect(),
        }

    async def logs(
        ctx: QueryCtx,
        paginationOpts: dict[str, Any],
        path: str | None = None,
        kind: str | None = None,
        ok: bool | None = None,
    ) -> dict[str, Any]:
        # A page counts documents, each the calls of one function, kind and
        # outcome in one second of one node (server.admin.function_logs);
        # they come newest first, as they were written.
        query = ctx.db.system.query(FUNCTION_LOGS).order("desc")
        for field, wanted in (("path", path), ("kind", kind), ("ok", ok)):
            if wanted is not None:
                query = query.filter(_equals(field, wanted))
        result = await query.paginate(paginationOpts)
        return {**result, "page": _calls(result["page"])}

    filter_condition = v.object(
        {
            "field": v.string(),
            "op": v.union(*(v.literal(op) for op in _OPERATORS)),
            "value": v.any(),
        }
    )
    order = v.union(v.literal("asc"), v.literal("desc"))
    documents_args = {
        "table": v.string(),
        "paginationOpts": pagination_opts_validator,
        "index": v.optional(v.string()),
        "order": v.optional(order),
        "filters": v.optional(v.array(filter_condition)),
    }
    return [
        _internal("tables", "query", tables, {}),
        _internal("documents", "query", documents, documents_args),
        _internal("functions", "query", functions, {}),
        _internal("health", "query", health, {}),
        _internal(
            "logs",
            "query",
            logs,
            {
                "paginationOpts": pagination_opts_validator,
                "path": v.optional(v.string()),
                "kind": v.optional(v.string()),
                "ok": v.optional(v.boolean()),
            },
        ),
        _internal(
            "insertDocument",
            "mutation",
            insert_document,
            {"table": v.string(), "document": v.any()},
        ),
        _internal(
            "patchDocument", "mutation", patch_document, {"id": v.string(), "fields": v.any()}
        ),
        _internal(
            "replaceDocument",
            "mutation",
            replace_document,
            {"id": v.string(), "document": v.any()},
        ),
        _internal("deleteDocument", "mutation", delete_document, {"id": v.string()}),
    ]


def _internal(
    name: str, kind: FunctionKind, handler: Callable[..., Any], args: Mapping[str, Validator]
) -> RegisteredFunction:
    return RegisteredFunction(f"{MODULE}:{name}", kind, handler, v.object(args), None, True)


def _describe_table(name: str, schema: Schema | None, empty: bool) -> dict[str, Any]:
    definition = None if schema is None else schema.tables.get(name)
    indexes = [
        {"name": BY_CREATION_TIME, "fields": ["_creationTime"]},
        {"name": BY_ID, "fields": ["_id"]},
    ]
    search: list[dict[str, Any]] = []
    document = None
    if definition is not None:
        for index, fields in definition.indexes:
            indexes.append({"name": index, "fields": list(fields)})
        for index, search_field, filter_fields in definition.search_indexes:
            search.append(
                {"name": index, "searchField": search_field, "filterFields": list(filter_fields)}
            )
        if definition.document is not None:
            document = definition.document.to_json()
    return {
        "name": name,
        "system": name in SYSTEM_TABLES,
        "inSchema": definition is not None,
        "empty": empty,
        "indexes": indexes,
        "searchIndexes": search,
        "documentValidator": document,
    }


def _describe_function(function: RegisteredFunction) -> dict[str, Any]:
    args, returns = function.args_validator, function.returns_validator
    return {
        "path": function.path,
        "kind": function.kind,
        "visibility": "internal" if function.internal else "public",
        "args": None if args is None else args.to_json(),
        "returns": None if returns is None else returns.to_json(),
    }


def _calls(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The calls the function log's `documents` hold, one entry each, the
    latest to end first (documents written in the same second interleave)."""
    calls: list[dict[str, Any]] = []
    for doc in documents:
        # JSON text (server.admin.function_logs); an older document is one call.
        held = json.loads(doc["calls"]) if isinstance(doc.get("calls"), str) else [doc]
        calls.extend(
            {
                **call,
                # Counted from the newest: trimming takes a document's oldest calls.
                "_id": f"{doc['_id']}:{len(held) - n}",
                "nodeId": doc["nodeId"],
                "path": doc["path"],
                "kind": doc["kind"],
                "ok": doc["ok"],
            }
            for n, call in enumerate(held)
        )
    calls.sort(key=lambda call: call["startedAt"] + call["durationMs"], reverse=True)
    return calls


def _condition(condition: Mapping[str, Any]) -> Callable[[FilterBuilder], Expression]:
    operator = _OPERATORS[condition["op"]]
    field, value = condition["field"], condition["value"]
    return lambda q: operator(q, q.field(field), value)


def _equals(field: str, value: Any) -> Callable[[FilterBuilder], Expression]:
    return _condition({"field": field, "op": "eq", "value": value})


def _writable(table: str) -> None:
    if table in SYSTEM_TABLES:
        raise FunctionError(f"{table} is a system table: only the server writes it")


async def _writable_document(ctx: MutationCtx, id: str) -> None:
    """Refuses an id of a system table (their documents are the server's)."""
    for table in SYSTEM_TABLES:
        if ctx.db.normalize_id(table, id) is not None and await ctx.db.get(table, id) is not None:
            raise FunctionError(f"{id} is a document of {table}: only the server writes it")


def _user_document(document: Any) -> Any:
    """`document` without `_id` and `_creationTime`, which the dashboard
    shows and a user may paste back; anything else goes to the writer as is."""
    if not isinstance(document, dict):
        raise FunctionError(f"A document must be an object, got {type(document).__name__}")
    return {key: value for key, value in document.items() if key not in _SYSTEM_FIELDS}
