"""FunctionRunner end to end: a real app folder and a real SQLite store."""

from __future__ import annotations

import logging

import pytest

from server.functions.runner import MAX_ACTION_DEPTH

APP = {
    "schema.py": """
        from server import define_schema, define_table, v

        schema = define_schema({
            "notes": define_table({"text": v.string()}).index("by_text", ["text"]),
        })
    """,
    "notes.py": """
        from server import AppError, action, mutation, query, v

        @query(args={"text": v.string()})
        async def by_text(ctx, text):
            print("looking for", text)
            return await ctx.db.query("notes").with_index("by_text", lambda q: q.eq("text", text)).collect()

        @query()
        async def count(ctx):
            return len(await ctx.db.query("notes").collect())

        @query()
        async def whoami(ctx):
            return await ctx.auth.get_user_identity()

        @query()
        async def can_write(ctx):
            return hasattr(ctx.db, "insert")

        @query(returns=v.string())
        async def wrong_return(ctx):
            return 5.0

        @query()
        async def unencodable(ctx):
            return {1, 2}

        @query()
        async def crash(ctx):
            raise RuntimeError("secret internals")

        @mutation(args={"text": v.string()})
        async def add(ctx, text):
            return await ctx.db.insert("notes", {"text": text})

        @mutation(args={"text": v.string()})
        async def add_then_fail(ctx, text):
            await ctx.db.insert("notes", {"text": text})
            print("about to fail")
            raise AppError({"code": 1, "text": text})

        @mutation()
        async def break_schema(ctx):
            await ctx.db.insert("notes", {"text": 1.0})

        @action(args={"text": v.string()})
        async def add_and_count(ctx, text):
            await ctx.run_mutation("notes:add", {"text": text})
            return await ctx.run_query("notes:count")

        @action()
        async def nested_failure(ctx):
            await ctx.run_mutation("notes:add_then_fail", {"text": "x"})

        @action(args={"text": v.string()})
        async def add_and_count_twice(ctx, text):
            print("outer starts")
            first = await ctx.run_action("notes:add_and_count", {"text": text})
            second = await ctx.run_action("notes:add_and_count", {"text": text + "!"})
            return [first, second]

        @action()
        async def identity_action(ctx):
            print("inner runs")
            return await ctx.auth.get_user_identity()

        @action()
        async def identity_via_action(ctx):
            return await ctx.run_action("notes:identity_action")

        @action()
        async def refuse_action(ctx):
            raise AppError({"why": "inner action"})

        @action()
        async def relay_refusal(ctx):
            try:
                await ctx.run_action("notes:refuse_action")
            except AppError as exc:
                return {"caught": exc.data}

        @action()
        async def relay_refusal_uncaught(ctx):
            print("relaying")
            return await ctx.run_action("notes:refuse_action")

        @action()
        async def relay_crash(ctx):
            return await ctx.run_action("notes:nested_failure_crash")

        @action()
        async def nested_failure_crash(ctx):
            raise RuntimeError("inner secret")

        @action()
        async def call_query_as_action(ctx):
            return await ctx.run_action("notes:count")

        @action()
        async def forever(ctx):
            return await ctx.run_action("notes:forever")

        @query()
        async def run_action_in_query(ctx):
            return await ctx.run_action("notes:identity_action")

        @mutation()
        async def run_action_in_mutation(ctx):
            await ctx.db.insert("notes", {"text": "must roll back"})
            return await ctx.run_action("notes:identity_action")
    """,
}


@pytest.fixture
async def runner(make_app, open_runner):
    return await open_runner(make_app(APP))


async def query(runner, path, args=None, identity=None):
    return await runner.run_query(path, args or {}, identity, runner._store.snapshot())


async def test_query_returns_value_logs_and_read_set(runner):
    (outcome, commit) = await runner.run_mutation("notes:add", {"text": "hi"}, None)
    assert outcome.ok and commit is not None and commit.writes
    result = await query(runner, "notes:by_text", {"text": "hi"})
    assert result.ok
    assert [doc["text"] for doc in result.value] == ["hi"]
    assert result.log_lines == ("[LOG] looking for hi",)
    assert result.error_data_json is None
    assert result.read_set.indexes() == {"notes.by_text"}
    assert result.read_set.overlaps(commit.keys)
    assert result.used_auth is False


async def test_identity_reading_is_recorded(runner):
    identity = {"subject": "user1"}
    result = await query(runner, "notes:whoami", identity=identity)
    assert result.value == identity
    assert result.used_auth is True


async def test_query_db_has_no_write_methods(runner):
    assert (await query(runner, "notes:can_write")).value is False


async def test_bad_arguments_fail_before_the_handler_runs(runner):
    result = await query(runner, "notes:by_text", {"text": 5.0})
    assert not result.ok
    assert result.error_message == (
        "ArgumentValidationError: Value does not match validator.\n"
        "Path: .text\nValue: 5\nValidator: v.string()"
    )
    assert result.log_lines == ()


async def test_returns_validator_is_checked(runner):
    result = await query(runner, "notes:wrong_return")
    assert "Return value of notes:wrong_return is invalid" in result.error_message


async def test_unencodable_result_is_an_error_outcome(runner):
    result = await query(runner, "notes:unencodable")
    assert "not a valid Convex value" in result.error_message


async def test_generic_exception_is_hidden_and_logged(runner, caplog):
    with caplog.at_level(logging.ERROR, logger="livesync.functions"):
        result = await query(runner, "notes:crash")
    assert result.error_message == "Server Error"
    assert "secret internals" not in result.error_message
    assert any("secret internals" in (r.exc_text or "") for r in caplog.records)


async def test_wrong_kind_is_function_not_found(runner):
    result = await query(runner, "notes:add", {"text": "x"})
    assert result.error_message == (
        "Trying to execute notes:add as Query, but it is defined as Mutation."
    )
    outcome, commit = await runner.run_mutation("notes:nope", {}, None)
    assert "Could not find public function for 'notes:nope'" in outcome.error_message
    assert commit is None


async def test_failed_mutation_rolls_back_and_carries_app_error_data(runner):
    outcome, commit = await runner.run_mutation("notes:add_then_fail", {"text": "gone"}, None)
    assert commit is None
    assert outcome.error_message == 'Uncaught ConvexError: {"code":1,"text":"gone"}'
    assert outcome.error_data() == {"code": 1, "text": "gone"}
    assert outcome.log_lines == ("[LOG] about to fail",)
    assert (await query(runner, "notes:count")).value == 0


async def test_schema_violation_fails_the_mutation(runner):
    outcome, commit = await runner.run_mutation("notes:break_schema", {}, None)
    assert commit is None
    assert "does not match the schema" in outcome.error_message


async def test_successful_mutation_records_its_result_for_dedup(runner):
    outcome, commit = await runner.run_mutation("notes:add", {"text": "a"}, None, dedup=("s1", 7))
    assert outcome.ok
    stored = await runner._store.get_mutation_result("s1", 7)
    assert stored == (commit.ts, f'"{outcome.value}"', None)


async def test_action_runs_mutations_and_queries(runner):
    result = await runner.run_action("notes:add_and_count", {"text": "z"}, None)
    assert result.ok and result.value == 1


async def test_action_sees_nested_app_error_data(runner):
    result = await runner.run_action("notes:nested_failure", {}, None)
    assert result.error_data() == {"code": 1, "text": "x"}
    assert "[LOG] about to fail" in result.log_lines


async def test_run_action_returns_the_nested_actions_value_and_joins_its_logs(runner):
    result = await runner.run_action("notes:add_and_count_twice", {"text": "n"}, None)
    assert result.ok, result.error_message
    assert result.value == [1, 2]  # each nested action saw its own mutation committed
    assert result.log_lines[0] == "[LOG] outer starts"
    assert (await query(runner, "notes:count")).value == 2


async def test_run_action_runs_with_the_callers_identity(runner):
    identity = {"subject": "user1"}
    result = await runner.run_action("notes:identity_via_action", {}, identity)
    assert result.value == identity
    assert result.log_lines == ("[LOG] inner runs",)
    anonymous = await runner.run_action("notes:identity_via_action", {}, None)
    assert anonymous.ok and anonymous.value is None


async def test_run_action_raises_the_nested_app_error_with_its_data(runner):
    caught = await runner.run_action("notes:relay_refusal", {}, None)
    assert caught.value == {"caught": {"why": "inner action"}}
    # Uncaught, it fails the outer action with the same data and message.
    relayed = await runner.run_action("notes:relay_refusal_uncaught", {}, None)
    assert relayed.error_data() == {"why": "inner action"}
    assert relayed.error_message == 'Uncaught ConvexError: {"why":"inner action"}'
    assert relayed.log_lines == ("[LOG] relaying",)


async def test_a_crashing_nested_action_stays_hidden(runner):
    result = await runner.run_action("notes:relay_crash", {}, None)
    assert result.error_message == "Server Error"
    assert result.error_data_json is None


async def test_run_action_on_a_query_says_what_it_is(runner):
    result = await runner.run_action("notes:call_query_as_action", {}, None)
    assert result.error_message == (
        "Trying to execute notes:count as Action, but it is defined as Query."
    )


async def test_runaway_action_recursion_is_a_clear_error(runner):
    result = await runner.run_action("notes:forever", {}, None)
    assert not result.ok
    assert f"would nest actions {MAX_ACTION_DEPTH} deep" in result.error_message


async def test_run_action_is_refused_in_queries_and_mutations(runner):
    in_query = await query(runner, "notes:run_action_in_query")
    assert in_query.error_message == (
        "ctx.run_action('notes:identity_action') called from a query: only actions "
        "can run actions (call it from the client or from an action)"
    )
    outcome, commit = await runner.run_mutation("notes:run_action_in_mutation", {}, None)
    assert commit is None
    assert "called from a mutation: only actions can run actions" in outcome.error_message
    assert (await query(runner, "notes:count")).value == 0
