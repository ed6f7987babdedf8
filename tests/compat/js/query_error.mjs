// A failing query reaches onError: an AppError message arrives intact, and an
// unexpected exception arrives as a generic error without its details.
import { anyApi } from "convex/server";
import { check, describeError, emit, newClient, run, Subscription } from "./harness.mjs";

await run(async () => {
  const client = newClient();
  const refused = new Subscription(client, anyApi.failures.refuse, {}, "refuse");
  const crashed = new Subscription(client, anyApi.failures.crash, {}, "crash");

  const refusal = describeError(await refused.error("the refusal"));
  emit("refused", refusal);
  check(refusal.message.includes("query refused on purpose"), "onError carries the message", refusal);

  const crash = describeError(await crashed.error("the crash"));
  emit("crashed", crash);
  check(!crash.isConvexError, "an unexpected exception is not a ConvexError", crash);
  check(!crash.message.includes("internal detail 7f3a"), "exception details stay on the server", crash);
  check(refused.values.length === 0 && crashed.values.length === 0, "no value was delivered");
});
