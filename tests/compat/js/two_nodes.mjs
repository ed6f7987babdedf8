// Two clients on two nodes of one database (argv[2] and argv[3]) each see
// the other's writes.
import { anyApi } from "convex/server";
import { emit, newClient, run, Subscription } from "./harness.mjs";

const other = process.argv[3];
const hasBoth = (rows) => ["from a", "from b"].every((body) => rows.some((row) => row.body === body));

await run(async () => {
  const a = newClient();
  const b = newClient({}, other);
  const seenByA = new Subscription(a, anyApi.notes.list, {}, "client a");
  const seenByB = new Subscription(b, anyApi.notes.list, {}, "client b");
  await Promise.all([seenByA.value(), seenByB.value()]);

  await a.mutation(anyApi.notes.add, { body: "from a" });
  await b.mutation(anyApi.notes.add, { body: "from b" });

  const [rowsA, rowsB] = await Promise.all([
    seenByA.value(hasBoth, "both notes"),
    seenByB.value(hasBoth, "both notes"),
  ]);
  emit("a", { bodies: rowsA.map((row) => row.body) });
  emit("b", { bodies: rowsB.map((row) => row.body) });
});
