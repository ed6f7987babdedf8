// Internal functions through the official clients: the WebSocket client and
// the HTTP client each get, for every kind, the error they get for a path
// that does not exist; the public action that calls them works.
import { anyApi } from "convex/server";
import { describeError, emit, newClient, newHttpClient, run } from "./harness.mjs";

async function failure(promise) {
  try {
    return { resolved: await promise };
  } catch (error) {
    return describeError(error);
  }
}

const calls = [
  ["query", "secrets:count", {}],
  ["mutation", "secrets:add", { body: "sneaked in" }],
  ["action", "secrets:echo", { text: "sneaked in" }],
];

await run(async () => {
  const ws = newClient();
  const http = newHttpClient();
  for (const [kind, path, args] of calls) {
    for (const [side, client] of [["ws", ws], ["http", http]]) {
      emit("internal", { side, kind, path, ...(await failure(client[kind](path, args))) });
      emit("unknown", { side, kind, path: "secrets:absent", ...(await failure(client[kind]("secrets:absent", args))) });
    }
  }
  const done = await ws.action(anyApi.secrets.writeThroughInternals, { body: "hello" });
  emit("through_action", { done, notes: (await ws.query(anyApi.notes.list, {})).map((row) => row.body) });
});
