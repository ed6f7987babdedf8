// ConvexHttpClient.consistentQuery: the client asks /api/query_ts once, then
// runs every consistentQuery at that ts through /api/query_at_ts. After the
// first read it prints "pinned"; the test commits a note and answers
// "written"; the pinned reads still see the old snapshot, and agree with
// each other, while a plain query and a new client see the write.
import { createInterface } from "node:readline";
import { anyApi } from "convex/server";
import { check, emit, newHttpClient, run } from "./harness.mjs";

const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const bodies = (rows) => rows.map((row) => row.body);

await run(async () => {
  const client = newHttpClient();
  await client.mutation(anyApi.notes.add, { body: "before" });
  const first = await client.consistentQuery(anyApi.notes.list, {});
  emit("pinned", { bodies: bodies(first) });
  const reply = await lines.next();
  check(reply.value === "written", "the test committed a note", { reply });

  const [again, count] = await Promise.all([
    client.consistentQuery(anyApi.notes.list, {}),
    client.consistentQuery(anyApi.counts.notes, {}),
  ]);
  const latest = await client.query(anyApi.notes.list, {});
  const repinned = await newHttpClient().consistentQuery(anyApi.notes.list, {});
  emit("after", {
    first: bodies(first),
    again: bodies(again),
    count,
    latest: bodies(latest),
    repinned: bodies(repinned),
  });
  check(bodies(again).join() === "before" && count === 1, "pinned reads agree on the old snapshot", {
    again,
    count,
  });
});
