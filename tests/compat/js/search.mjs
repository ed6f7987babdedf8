// The chat example's messages:search with the official client: a search
// subscription's first result, then a new matching message arriving, while
// messages elsewhere leave it unchanged.
import { anyApi } from "convex/server";
import { check, emit, newClient, run, Subscription } from "./harness.mjs";

await run(async () => {
  const reader = newClient();
  const writer = newClient();
  await writer.mutation(anyApi.messages.send, { channel: "general", body: "Deploy tonight?" });
  const search = new Subscription(
    reader,
    anyApi.messages.search,
    { channel: "general", text: "deploy" },
    "search",
  );
  const first = await search.value((rows) => rows.length === 1, "the first result");
  emit("first", { bodies: first.map((row) => row.body) });

  await writer.mutation(anyApi.messages.send, { channel: "random", body: "deploy memes" });
  await writer.mutation(anyApi.messages.send, { channel: "general", body: "the deployment went fine" });
  const pushed = await search.value((rows) => rows.length === 2, "the new match");
  emit("pushed", { bodies: pushed.map((row) => row.body) });
  check(
    !pushed.some((row) => row.channel !== "general"),
    "only the channel's messages come back",
    { pushed },
  );
  emit("updates", { count: search.values.length });
});
