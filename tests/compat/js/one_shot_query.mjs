// client.query() returns one result without a subscription of the caller's.
import { anyApi } from "convex/server";
import { check, emit, newClient, run } from "./harness.mjs";

await run(async () => {
  const client = newClient();
  const before = await client.query(anyApi.notes.list, {});
  emit("before", { value: before });
  check(Array.isArray(before) && before.length === 0, "the table starts empty", { before });

  const id = await client.mutation(anyApi.notes.add, { body: "once" });
  const after = await client.query(anyApi.notes.list, {});
  emit("after", { value: after });
  check(after.length === 1 && after[0]._id === id && after[0].body === "once", "the query sees the write", {
    after,
  });
});
