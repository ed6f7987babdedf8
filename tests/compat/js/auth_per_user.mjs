// The chat example's messages:getForCurrentUser through the official client:
// two signed-in users each see only their own messages; a signed-out client
// gets the query's "Not authenticated" error.
import { anyApi } from "convex/server";
import { check, describeError, emit, run, Subscription } from "./harness.mjs";
import { closeAuthClients, newAuthClient, signIn } from "./auth_common.mjs";

const bodies = (rows) => rows.map((row) => row.body).sort();

await run(async () => {
  try {
    const [alice, bob] = await Promise.all([signIn("alice"), signIn("bob")]);
    const mine = {
      alice: new Subscription(alice, anyApi.messages.getForCurrentUser, {}, "alice"),
      bob: new Subscription(bob, anyApi.messages.getForCurrentUser, {}, "bob"),
    };
    const anonymous = newAuthClient();
    const refused = new Subscription(anonymous, anyApi.messages.getForCurrentUser, {}, "anonymous");

    await alice.mutation(anyApi.messages.send, { channel: "general", body: "from alice 1" });
    await bob.mutation(anyApi.messages.send, { channel: "general", body: "from bob" });
    await alice.mutation(anyApi.messages.send, { channel: "general", body: "from alice 2" });

    const aliceSees = await mine.alice.value((rows) => rows.length === 2, "alice's two messages");
    const bobSees = await mine.bob.value((rows) => rows.length === 1, "bob's message");
    // One-shot reads at a snapshot after all three writes.
    const aliceNow = await alice.query(anyApi.messages.getForCurrentUser, {});
    const bobNow = await bob.query(anyApi.messages.getForCurrentUser, {});
    const everyone = await anonymous.query(anyApi.messages.list, { channel: "general" });
    emit("seen", {
      alice: bodies(aliceSees),
      bob: bodies(bobSees),
      aliceNow: bodies(aliceNow),
      bobNow: bodies(bobNow),
      authors: [...new Set(everyone.map((row) => row.author))].sort(),
      aliceUpdates: mine.alice.values.map(bodies),
      bobUpdates: mine.bob.values.map(bodies),
    });
    emit("anonymous", describeError(await refused.error("the signed-out error")));
  } finally {
    await closeAuthClients();
  }
}, { timeoutMs: 60000 });
