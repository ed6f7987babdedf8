// int64 (bigint), bytes (ArrayBuffer) and numbers survive a mutation and a
// query unchanged, including the int64 extremes.
import { anyApi } from "convex/server";
import { check, emit, newClient, run, sameValue, Subscription } from "./harness.mjs";

const value = {
  min: -(2n ** 63n),
  max: 2n ** 63n - 1n,
  zero: 0n,
  minusOne: -1n,
  bytes: Uint8Array.from([0, 1, 127, 128, 255]).buffer,
  emptyBytes: new ArrayBuffer(0),
  float: 1.5,
  whole: 3,
  list: [1n, 2.5, "x", 4],
};

await run(async () => {
  const client = newClient();
  const latest = new Subscription(client, anyApi.roundtrip.latest, {}, "latest");
  check((await latest.value(() => true, "the first result")) === null, "the table starts empty");

  const result = await client.mutation(anyApi.roundtrip.store, { value });
  emit("stored", { value: result.value, types: result.types });
  check(sameValue(result.value, value), "the mutation returned the value unchanged", { result });

  const seen = await latest.value((v) => v !== null, "the stored value");
  emit("queried", { value: seen });
  check(sameValue(seen, value), "the query returned the value unchanged", { seen });
  check(
    typeof seen.max === "bigint" && seen.bytes instanceof ArrayBuffer && typeof seen.whole === "number",
    "types are preserved",
  );

  const again = await client.query(anyApi.roundtrip.latest, {});
  check(sameValue(again, value), "a one-shot query returns it unchanged too", { again });
});
