// setAuth reaches onChange(true); a 10 s token is refreshed on the live socket
// at least twice while a subscription keeps receiving pushed updates.
//
// The client refetches (exp - iat - leeway) s after a fresh token is confirmed.
// With the default 10 s leeway a 10 s token gives 0 s: a tight refetch loop.
// A 5 s leeway gives a refresh every 5 s, each well before the token expires.
import { anyApi } from "convex/server";
import { check, emit, run, Subscription } from "./harness.mjs";
import { AuthChanges, closeAuthClients, issuerUrl, newAuthClient, TokenFetcher } from "./auth_common.mjs";

const REFRESHES = 2;

await run(async () => {
  try {
    const client = newAuthClient({ authRefreshTokenLeewaySeconds: 5 });
    const fetcher = new TokenFetcher(issuerUrl, { sub: "user_1", ttl: 10 });
    const changes = new AuthChanges();
    client.setAuth(fetcher.fetch, changes.onChange);
    const whoami = new Subscription(client, anyApi.auth_probe.whoami, {}, "whoami");
    const notes = new Subscription(client, anyApi.auth_probe.notes, {}, "notes");

    await changes.until((c) => c.count(true) >= 1, "onChange(true)");
    emit("authenticated", { values: changes.values });
    check((await whoami.value((v) => v === "user_1", "whoami as user_1")) === "user_1", "identity reached the query");

    // Calls 1 and 2 are the cached token and its forced refetch on confirmation;
    // every call after that is a scheduled refresh.
    for (let n = 1; n <= REFRESHES; n++) {
      const confirmedBefore = changes.count(true);
      await fetcher.until((f) => f.calls.length >= 2 + n, `scheduled refresh ${n}`, 20000);
      await changes.until((c) => c.count(true) > confirmedBefore, `confirmation of refresh ${n}`, 20000);
      const body = `after refresh ${n}`;
      const poster = await client.mutation(anyApi.auth_probe.post, { body });
      check(poster === "user_1", "the mutation ran as user_1", { poster });
      await notes.value((rows) => rows.includes(body), `the pushed note ${body}`);
      emit("refreshed", { n, poster, calls: fetcher.calls.length });
    }

    const first = fetcher.calls[0];
    const state = client.connectionState();
    emit("done", {
      onChange: changes.values,
      calls: fetcher.calls.map(({ forceRefreshToken, at }) => ({ forceRefreshToken, at })),
      firstTokenExp: JSON.parse(Buffer.from(first.token.split(".")[1], "base64url")).exp,
      now: Date.now() / 1000,
      connectionCount: state.connectionCount,
      whoamiValues: whoami.values,
      whoamiErrors: whoami.errors.map(String),
      notes: notes.values.at(-1),
    });
  } finally {
    await closeAuthClients();
  }
}, { timeoutMs: 60000 });
