"""livesync codegen: TypeScript types from validators, and the api.js / api.d.ts files."""

from __future__ import annotations

from pathlib import Path

import pytest

from protocol.values import Int64
from server.codegen import codegen_main, render_api_dts, render_api_js, validator_to_ts
from server.functions.registry import FunctionRegistry
from server.functions.validators import v

CHAT_FUNCTIONS = Path(__file__).resolve().parents[2] / "examples" / "chat" / "functions"


@pytest.mark.parametrize(
    ("validator", "expected"),
    [
        (v.string(), "string"),
        (v.float64(), "number"),
        (v.int64(), "bigint"),
        (v.boolean(), "boolean"),
        (v.null(), "null"),
        (v.bytes(), "ArrayBuffer"),
        (v.any(), "any"),
        (v.id("messages"), 'Id<"messages">'),
        (v.literal("a"), '"a"'),
        (v.literal(3), "3"),
        (v.literal(Int64(3)), "3n"),
        (v.record(v.string(), v.number()), "Record<string, number>"),
        (v.literal(2.5), "2.5"),
        (v.literal(True), "true"),
        (v.array(v.string()), "Array<string>"),
        (v.union(v.string(), v.null()), "string | null"),
        (v.object({}), "Record<string, never>"),
        (
            v.object({"a": v.string(), "b-c": v.optional(v.int64())}),
            '{ a: string; "b-c"?: bigint }',
        ),
    ],
)
def test_validator_becomes_the_matching_typescript_type(validator: object, expected: str) -> None:
    assert validator_to_ts(validator.to_json()) == expected  # type: ignore[attr-defined]


def _write_app(root: Path) -> Path:
    (root / "admin").mkdir(parents=True)
    (root / "notes.py").write_text(
        "from server import mutation, query, v\n"
        "@mutation(args={'text': v.string()}, returns=v.id('notes'))\n"
        "async def add_note(ctx, text):\n"
        "    return await ctx.db.insert('notes', {'text': text})\n"
        "@query()\n"
        "async def search(ctx, term, limit=10):\n"
        "    return []\n"
        "@query(name='everything')\n"
        "async def all_notes(ctx, **rest):\n"
        "    return []\n"
        "from server import internal_mutation\n"
        "@internal_mutation()\n"
        "async def purge_all(ctx):\n"
        "    return None\n"
    )
    (root / "admin" / "users.py").write_text(
        "from server import action, v\n"
        "@action(args={'id': v.string()}, returns=v.union(v.literal('ok'), v.null()))\n"
        "async def ban(ctx, id):\n"
        "    return 'ok'\n"
    )
    (root / "schema.py").write_text(
        "from server import define_schema, define_table, v\n"
        "schema = define_schema({'notes': define_table({'text': v.string()})})\n"
    )
    return root


def test_api_js_references_every_function_by_its_camel_case_path(tmp_path: Path) -> None:
    registry = FunctionRegistry.load(_write_app(tmp_path / "app"))
    text = render_api_js(registry)
    assert 'import { makeFunctionReference } from "convex/server";' in text
    assert 'addNote: makeFunctionReference("notes:addNote"),' in text
    assert 'search: makeFunctionReference("notes:search"),' in text
    assert 'everything: makeFunctionReference("notes:everything"),' in text
    # A nested module is a nested object: api.admin.users.ban.
    assert 'admin: {\n    users: {\n      ban: makeFunctionReference("admin/users:ban"),' in text
    # No client may call an internal function: it is not in the client's api.
    assert "purge" not in text and "purge" not in render_api_dts(registry)


def test_api_dts_types_arguments_and_returns_from_validators_and_signatures(
    tmp_path: Path,
) -> None:
    registry = FunctionRegistry.load(_write_app(tmp_path / "app"))
    text = render_api_dts(registry)
    assert 'addNote: FunctionReference<"mutation", "public", { text: string }, Id<"notes">>' in text
    # No args validator: the handler's parameters, untyped; a default makes one optional.
    assert 'search: FunctionReference<"query", "public", { term: any; limit?: any }, any>' in text
    assert 'everything: FunctionReference<"query", "public", Record<string, any>, any>' in text
    assert 'ban: FunctionReference<"action", "public", { id: string }, "ok" | null>' in text
    assert 'notes: { text: string; _id: Id<"notes">; _creationTime: number };' in text


def test_codegen_main_writes_both_files_for_the_chat_example(tmp_path: Path) -> None:
    out = tmp_path / "generated"
    assert codegen_main(["--functions", str(CHAT_FUNCTIONS), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["api.d.ts", "api.js"]
    dts = (out / "api.d.ts").read_text()
    send_args = '{ channel: string; body: string; vanishAfter?: number; image?: Id<"_storage"> }'
    assert f'send: FunctionReference<"mutation", "public", {send_args}, any>' in dts
    assert "vanish:" not in dts and "upsertFromClerk" not in dts  # internal
    assert (
        'getForCurrentUser: FunctionReference<"query", "public", Record<string, never>, any>' in dts
    )


def test_codegen_main_reads_the_functions_folder_from_the_config(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'[functions]\ndir = "{CHAT_FUNCTIONS.as_posix()}"\n')
    out = tmp_path / "out"
    assert codegen_main(["--config", str(config), "--out", str(out)]) == 0
    assert 'makeFunctionReference("messages:send")' in (out / "api.js").read_text()


def test_codegen_main_reports_a_missing_functions_folder_with_exit_code_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = codegen_main(["--functions", str(tmp_path / "nope"), "--out", str(tmp_path / "o")])
    assert code == 2
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
