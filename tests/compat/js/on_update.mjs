// onUpdate delivers the first result, then a result pushed after another
// client's mutation.
import { anyApi } from "convex/server";
import { check, emit, newClient, run, Subscription } from "./harness.mjs";

await run(async () => {
  const reader = newClient();
  const writer = newClient();
  const notes = new Subscription(reader, anyApi.notes.list, {}, "reader");

  const first = await notes.value(() => true, "the first result");
  emit("first", { value: first });
  check(Array.isArray(first) && first.length === 0, "the first result is the empty table", { first });

  const id = await writer.mutation(anyApi.notes.add, { body: "pushed" });
  emit("mutated", { id });
  const pushed = await notes.value(
    (rows) => rows.some((row) => row._id === id),
    "the pushed note",
  );
  emit("pushed", { value: pushed });
  const [row] = pushed;
  check(row.body === "pushed", "the pushed row carries the body", { row });
  check(typeof row._creationTime === "number", "_creationTime is a float64 number", { row });
  emit("updates", { count: notes.values.length });
});
