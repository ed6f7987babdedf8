// Key rotation at the issuer is picked up on the live socket: after the test
// rotates the signing key (it writes "rotated" on our stdin), the next
// scheduled refresh brings a token signed by the new key, the server accepts
// it, and the session carries on without reconnecting.
//
// argv[4], argv[5]: token ttl and the client's refresh leeway, in seconds.
import { createInterface } from "node:readline";
import { anyApi } from "convex/server";
import { check, emit, run, Subscription } from "./harness.mjs";
import { AuthChanges, closeAuthClients, issuerUrl, newAuthClient, TokenFetcher } from "./auth_common.mjs";

const ttl = Number(process.argv[4]);
const leeway = Number(process.argv[5]);
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();

await run(async () => {
  try {
    const client = newAuthClient({ authRefreshTokenLeewaySeconds: leeway });
    const fetcher = new TokenFetcher(issuerUrl, { sub: "user_1", ttl });
    const changes = new AuthChanges();
    client.setAuth(fetcher.fetch, changes.onChange);
    const notes = new Subscription(client, anyApi.auth_probe.notes, {}, "notes");

    // Two confirmations: the cached token, then its forced refetch.
    await changes.until((c) => c.count(true) >= 2, "the fresh token's confirmation");
    const oldKid = fetcher.calls.at(-1).kid;
    emit("confirmed", { kid: oldKid });
    const reply = await lines.next();
    check(reply.value === "rotated", "the test rotated the key", { reply });

    const rotatedAt = fetcher.calls.length;
    await fetcher.until((f) => f.calls.length > rotatedAt, "a refresh after the rotation", 30000);
    const newKid = fetcher.calls.at(-1).kid;
    const confirmedBefore = changes.count(true);
    await changes.until(
      (c) => c.count(true) > confirmedBefore || c.values.includes(false),
      "the server's answer to the new-key token",
      30000,
    );
    const poster = await client.mutation(anyApi.auth_probe.post, { body: "after rotation" });
    await notes.value((rows) => rows.includes("after rotation"), "the pushed note");
    emit("done", {
      oldKid,
      newKid,
      poster,
      onChange: changes.values,
      kids: fetcher.calls.map((call) => call.kid),
      connectionCount: client.connectionState().connectionCount,
    });
  } finally {
    await closeAuthClients();
  }
}, { timeoutMs: 60000 });
