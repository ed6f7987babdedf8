// Shared plumbing for the compat scripts: the official client, JSON-line
// reporting on stdout, and waiting on events with deadlines (never sleeps).
//
// Every script is run as `node <script> <deployment url>`. It prints one JSON
// object per line ({"event": ...}) and exits 0 only if what it saw was right.

import { ConvexClient, ConvexHttpClient } from "convex/browser";
import { ConvexError } from "convex/values";

export const url = process.argv[2];
if (!url) {
  process.stderr.write("usage: node <script> <deployment url>\n");
  process.exit(64);
}

// The client's own logging goes to stderr so stdout stays JSON lines.
const stderrLogger = {
  log: (...args) => console.error(...args),
  warn: (...args) => console.error(...args),
  error: (...args) => console.error(...args),
  logVerbose: (...args) => console.error(...args),
};

const clients = [];

// `options` (e.g. authRefreshTokenLeewaySeconds) go to the client unchanged.
export function newClient(options = {}, at = url) {
  const client = new ConvexClient(at, { unsavedChangesWarning: false, logger: stderrLogger, ...options });
  clients.push(client);
  return client;
}

// An HTTP client: stateless apart from its auth and its consistentQuery ts,
// so there is nothing to close.
export function newHttpClient(options = {}) {
  return new ConvexHttpClient(url, { logger: stderrLogger, ...options });
}

export function emit(event, fields = {}) {
  process.stdout.write(JSON.stringify({ event, ...fields }, jsonReplacer) + "\n");
}

// bigint and ArrayBuffer have no JSON form; show them so a failure is readable.
function jsonReplacer(_key, value) {
  if (typeof value === "bigint") return { $bigint: value.toString() };
  if (value instanceof ArrayBuffer) return { $bytes: [...new Uint8Array(value)] };
  return value;
}

export function check(condition, message, details = {}) {
  if (!condition) {
    const error = new Error(message);
    error.details = details;
    throw error;
  }
}

// Resolve with `promise`, or reject once `ms` pass without it.
export function within(promise, ms, what) {
  let timer;
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

// Every value and error an `onUpdate` subscription delivered, in order, with
// a way to wait until one matching a predicate has arrived.
export class Subscription {
  constructor(client, ref, args, name = "subscription") {
    this.name = name;
    this.values = [];
    this.errors = [];
    this.waiters = [];
    this.unsubscribe = client.onUpdate(
      ref,
      args,
      (value) => this.deliver({ value }),
      (error) => this.deliver({ error }),
    );
  }

  deliver(item) {
    if ("error" in item) this.errors.push(item.error);
    else this.values.push(item.value);
    this.waiters = this.waiters.filter((waiter) => !waiter.offer(item));
  }

  // The first value (already delivered or future) for which `predicate` holds.
  value(predicate = () => true, what = "a value", ms = 15000) {
    const found = this.values.find(predicate);
    if (found !== undefined) return Promise.resolve(found);
    return this.waitFor((item) => "value" in item && predicate(item.value), what, ms).then(
      (item) => item.value,
    );
  }

  error(what = "an error", ms = 15000) {
    if (this.errors.length > 0) return Promise.resolve(this.errors[0]);
    return this.waitFor((item) => "error" in item, what, ms).then((item) => item.error);
  }

  waitFor(test, what, ms) {
    let offer;
    const arrived = new Promise((resolve) => {
      offer = (item) => (test(item) ? (resolve(item), true) : false);
    });
    this.waiters.push({ offer });
    return within(arrived, ms, `${this.name}: ${what}`);
  }
}

export function describeError(error) {
  return {
    isConvexError: error instanceof ConvexError,
    name: error?.name,
    message: String(error?.message ?? error),
    data: error instanceof ConvexError ? error.data : undefined,
  };
}

// Structural equality that understands bigint and ArrayBuffer.
export function sameValue(a, b) {
  if (typeof a === "bigint" || typeof b === "bigint") return a === b;
  if (a instanceof ArrayBuffer || b instanceof ArrayBuffer) {
    if (!(a instanceof ArrayBuffer && b instanceof ArrayBuffer)) return false;
    const x = new Uint8Array(a);
    const y = new Uint8Array(b);
    return x.length === y.length && x.every((byte, i) => byte === y[i]);
  }
  if (Array.isArray(a) || Array.isArray(b)) {
    return (
      Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => sameValue(x, b[i]))
    );
  }
  if (a && b && typeof a === "object" && typeof b === "object") {
    const keys = Object.keys(a).sort();
    const other = Object.keys(b).sort();
    return sameValue(keys, other) && keys.every((key) => sameValue(a[key], b[key]));
  }
  return Object.is(a, b);
}

// Run the scenario under a watchdog, report, close the clients, and exit.
export async function run(scenario, { timeoutMs = 30000 } = {}) {
  const watchdog = setTimeout(() => {
    emit("failed", { message: `scenario ran past ${timeoutMs} ms` });
    process.exit(3);
  }, timeoutMs);
  let code = 0;
  try {
    await scenario();
    emit("passed");
  } catch (error) {
    emit("failed", { message: String(error?.stack ?? error), details: error?.details });
    code = 1;
  }
  clearTimeout(watchdog);
  await within(Promise.allSettled(clients.map((client) => client.close())), 5000, "clients to close").catch(
    () => {},
  );
  process.exit(code);
}
