// The admin key through the official client, as Convex's dashboard uses it:
// setAdminAuth(key) reaches internal functions (a live query, a mutation),
// setAdminAuth(key, identity) acts as that user, and without the key an
// internal function stays out of reach.
//   node admin.mjs URL ADMIN_KEY
import { anyApi } from "convex/server";
import { check, emit, newClient, run, Subscription } from "./harness.mjs";

const adminKey = process.argv[3];

await run(async () => {
  const admin = newClient();
  admin.setAdminAuth(adminKey);
  const counted = new Subscription(admin, anyApi.secrets.count, {}, "count");
  const before = await counted.value((n) => typeof n === "number", "a count");
  await admin.mutation(anyApi.secrets.add, { body: "by the admin" });
  const after = await counted.value((n) => n === before + 1, "the count after the insert");
  emit("live", { before, after });
  emit("as_nobody", { subject: await admin.query(anyApi.secrets.whoami, {}) });

  const actingAs = newClient();
  actingAs.setAdminAuth(adminKey, { subject: "alice", issuer: "https://issuer.example.com" });
  emit("as_alice", { subject: await actingAs.query(anyApi.secrets.whoami, {}) });

  const user = newClient();
  let refused = null;
  try {
    await user.query(anyApi.secrets.count, {});
  } catch (error) {
    refused = String(error.message ?? error);
  }
  check(refused !== null, "a client without the key cannot call an internal query");
  emit("no_key", { message: refused });

  for (const client of [admin, actingAs, user]) await client.close();
});
