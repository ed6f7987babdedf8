// A Python int reaches the JS client as a number, Int64 as a bigint, and an
// integer claim as a number; arguments arrive with the types the README's
// value table gives; a bad argument fails with Convex's wording.
import { anyApi } from "convex/server";
import { mintToken } from "./auth_common.mjs";
import { check, describeError, emit, newClient, run, Subscription } from "./harness.mjs";

await run(async () => {
  const client = newClient();
  const issuer = process.argv[3];
  client.setAuth(() => mintToken(issuer, { sub: "user_1", age: 42, org: { seats: 3 } }));

  const summary = new Subscription(client, anyApi.numbers.summary, {}, "summary");
  const empty = await summary.value(() => true, "the first summary");
  check(typeof empty.count === "number" && empty.count === 0, "len() of no rows is the number 0", empty);

  const rows = await client.mutation(anyApi.numbers.add, { label: "a" });
  check(typeof rows === "number" && rows + 1 === 2, "a mutation's len() is a number", { rows });
  const pushed = await summary.value((s) => s.count === 1, "the pushed summary");
  emit("summary", {
    ...pushed,
    exact: `${pushed.exact}n`,
    types: { count: typeof pushed.count, stored: typeof pushed.stored, exact: typeof pushed.exact },
  });
  check(pushed.count + 1 === pushed.next, "count + 1 works on the pushed number", pushed);
  check(typeof pushed.stored === "number" && pushed.stored === 5, "a stored int is a number", pushed);
  check(pushed.exact === 2n ** 62n, "an Int64 is a bigint", { exact: `${pushed.exact}` });

  const echoed = await client.query(anyApi.numbers.echo, { n: 3, i: 7n, f: 2.5 });
  emit("echo", { n: echoed.n, i: `${echoed.i}n`, f: echoed.f, types: echoed.types });
  check(echoed.n === 3 && echoed.i === 7n && echoed.f === 2.5, "arguments come back unchanged", {
    types: echoed.types,
  });

  let tooBig = null;
  try {
    await client.query(anyApi.numbers.too_big, {});
  } catch (error) {
    tooBig = describeError(error);
  }
  emit("too_big", tooBig ?? { resolved: true });

  let refused = null;
  try {
    await client.query(anyApi.numbers.strict, { channel: 5 });
  } catch (error) {
    refused = describeError(error);
  }
  emit("refused", refused ?? { resolved: true });

  const total = await client.query(anyApi.numbers.total, { scores: { ann: 1, bob: 2.5 } });
  emit("record", total);
  let badRecord = null;
  try {
    await client.query(anyApi.numbers.total, { scores: { ann: 1, bob: "x" } });
  } catch (error) {
    badRecord = describeError(error);
  }
  emit("bad_record", badRecord ?? { resolved: true });

  const claims = await client.query(anyApi.numbers.claims, {});
  emit("claims", { age: claims?.age, ageType: typeof claims?.age, seats: claims?.org?.seats ?? null, seatsType: typeof claims?.org?.seats });
});
