// Two signed-in official clients on the chat example through a load balancer
// (argv[2]), tokens from one dev issuer (argv[3]) that every node trusts.
// Once both are connected the script prints "connected" and waits for a line
// on stdin (the test reads which node each socket is on); then each sends a
// message and sees the other's, live, with its author.
import { createInterface } from "node:readline";
import { anyApi } from "convex/server";
import { check, emit, run, Subscription, within } from "./harness.mjs";
import { closeAuthClients, signIn } from "./auth_common.mjs";

const pairs = (rows) => rows.map((row) => [row.body, row.author]);
const hasBoth = (rows) => ["from alice", "from bob"].every((body) => rows.some((row) => row.body === body));

await run(
  async () => {
    const input = createInterface({ input: process.stdin });
    try {
      // One after the other, so round robin gives each its own node.
      const alice = await signIn("alice");
      const bob = await signIn("bob");
      const channel = { channel: "general" };
      const aliceSees = new Subscription(alice, anyApi.messages.list, channel, "alice");
      const bobSees = new Subscription(bob, anyApi.messages.list, channel, "bob");
      await Promise.all([aliceSees.value(), bobSees.value()]);
      emit("connected");
      await within(input[Symbol.asyncIterator]().next(), 15000, "the test's reply");

      await alice.mutation(anyApi.messages.send, { channel: "general", body: "from alice" });
      await bob.mutation(anyApi.messages.send, { channel: "general", body: "from bob" });
      const [seenByAlice, seenByBob] = await Promise.all([
        aliceSees.value(hasBoth, "both messages"),
        bobSees.value(hasBoth, "both messages"),
      ]);
      emit("seen", {
        alice: pairs(seenByAlice),
        bob: pairs(seenByBob),
        bobMine: pairs(await bob.query(anyApi.messages.getForCurrentUser, {})),
      });
    } finally {
      input.close();
      await closeAuthClients();
    }
  },
  { timeoutMs: 60000 },
);
