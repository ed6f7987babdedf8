// mutation() resolves only after the Transition that reflects it: when the
// promise settles, the subscription has already shown the write.
import { makeFunctionReference } from "convex/server";
import { check, emit, newClient, run, Subscription } from "./harness.mjs";

const list = makeFunctionReference("notes:list");
const add = makeFunctionReference("notes:add");

await run(async () => {
  const client = newClient();
  const order = [];
  const notes = new Subscription(client, list, {}, "notes");
  const originalDeliver = notes.deliver.bind(notes);
  notes.deliver = (item) => {
    order.push("value" in item ? `update:${item.value.length}` : "error");
    originalDeliver(item);
  };
  await notes.value(() => true, "the first result");

  for (const body of ["one", "two", "three"]) {
    const id = await client.mutation(add, { body });
    const latest = notes.values.at(-1);
    const shown = latest.some((row) => row._id === id);
    order.push(`resolved:${body}`);
    emit("resolved", { body, id, shownBeforeResolve: shown });
    check(shown, `the subscription showed "${body}" before mutation() resolved`, { order });
  }
  emit("order", { order });
});
