// ConvexHttpClient.function() (POST /api/function) runs a query, mutation or
// action by what it is; .action() runs actions that use ctx.run_action; and
// every failure reaches the caller as the client reports it.
import { anyApi } from "convex/server";
import { check, describeError, emit, newHttpClient, run } from "./harness.mjs";

async function failure(promise) {
  try {
    return { resolved: await promise };
  } catch (error) {
    return describeError(error);
  }
}

await run(async () => {
  const client = newHttpClient();
  const byMutation = await client.function("notes:add", undefined, { body: "by mutation" });
  const byAction = await client.function(anyApi.actions.add_note, undefined, { body: "by action" });
  const listed = await client.function(anyApi.notes.list);
  emit("function", { byMutation, byAction, bodies: listed.map((row) => row.body) });
  check(typeof byMutation === "string" && typeof byAction === "string", "both writes returned ids");

  const nested = await client.action(anyApi.actions.add_note_nested, { body: "nested" });
  emit("nested", { value: nested });
  const stored = await client.query(anyApi.notes.list, {});
  check(stored.some((row) => row._id === nested.id && row.body === "nested"), "the nested write landed", {
    stored,
  });

  emit("relayed", await failure(client.action(anyApi.actions.relay_refusal, {})));
  emit("in_mutation", await failure(client.mutation(anyApi.actions.run_action_in_mutation, {})));
  emit("missing", await failure(client.function("nope:missing")));
  emit("component", await failure(client.function("notes:list", "widgets", {})));
});
