// AppError({"code": 1}) arrives as ConvexError with .data, from a query
// (onError) and from a mutation (a rejected promise).
import { anyApi } from "convex/server";
import { check, describeError, emit, newClient, run, Subscription } from "./harness.mjs";

function hasCodeOne(error) {
  // A Python int is a float64 (a JS number); an Int64 is a bigint.
  return error.isConvexError && error.data !== null && error.data.code === 1 && error.data.big === 7n;
}

await run(async () => {
  const client = newClient();
  const failing = new Subscription(client, anyApi.failures.app_error, {}, "app_error");
  const fromQuery = describeError(await failing.error("the query's ConvexError"));
  emit("query_error", { ...fromQuery, codeType: typeof fromQuery.data?.code });
  check(hasCodeOne(fromQuery), "the query failed with ConvexError data {code: 1, big: 7n}", fromQuery);

  let fromMutation = null;
  try {
    await client.mutation(anyApi.failures.app_error_mutation, {});
  } catch (error) {
    fromMutation = describeError(error);
  }
  emit("mutation_error", fromMutation ?? { resolved: true });
  check(fromMutation !== null, "the mutation rejected");
  check(hasCodeOne(fromMutation), "the mutation failed with ConvexError data {code: 1, big: 7n}", fromMutation);
});
