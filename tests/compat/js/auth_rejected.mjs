// A token the server refuses ends in onChange(false), after the client's own
// retries; the client then carries on signed out.
//
// argv[4] is a second dev issuer that the server does not trust.
import { anyApi } from "convex/server";
import { check, emit, run, Subscription } from "./harness.mjs";
import { AuthChanges, closeAuthClients, mintToken, newAuthClient, TokenFetcher } from "./auth_common.mjs";

const stranger = process.argv[4];

await run(async () => {
  try {
    const client = newAuthClient();
    const fetcher = new TokenFetcher(null, null, () => mintToken(stranger, { sub: "mallory", ttl: 60 }));
    const changes = new AuthChanges();
    client.setAuth(fetcher.fetch, changes.onChange);
    const whoami = new Subscription(client, anyApi.auth_probe.whoami, {}, "whoami");

    await changes.until((c) => c.values.length >= 1, "onChange", 30000);
    check(changes.values[0] === false, "the first onChange is false", { values: changes.values });
    const signedOut = await whoami.value((v) => v === null, "whoami as signed out");
    emit("done", {
      onChange: changes.values,
      fetches: fetcher.calls.length,
      whoami: signedOut,
      connectionCount: client.connectionState().connectionCount,
    });
  } finally {
    await closeAuthClients();
  }
}, { timeoutMs: 60000 });
