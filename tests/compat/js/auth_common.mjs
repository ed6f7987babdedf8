// Auth plumbing shared by the auth_*.mjs scripts: clients with auth options,
// a token fetcher that asks the dev issuer over HTTP and records every call,
// and a recorder of onChange values that can be waited on.
//
// Run as `node <script> <deployment url> <issuer url>`.

import { check, newClient, within } from "./harness.mjs";

export const issuerUrl = process.argv[3];
if (!issuerUrl) {
  process.stderr.write("usage: node <script> <deployment url> <issuer url>\n");
  process.exit(64);
}

// Tracked apart from harness's list so a script can close them mid-scenario.
const authClients = [];

export function newAuthClient(options = {}) {
  const client = newClient(options);
  authClients.push(client);
  return client;
}

export async function closeAuthClients() {
  await within(Promise.allSettled(authClients.map((client) => client.close())), 5000, "clients to close").catch(
    () => {},
  );
}

// The unverified payload and header of a JWT, as the client itself reads them.
export function decodeJwt(token) {
  const [header, payload] = token.split(".").slice(0, 2).map((part) => JSON.parse(Buffer.from(part, "base64url")));
  return { header, payload };
}

export async function mintToken(issuer, body) {
  const response = await fetch(`${issuer}/token`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`dev issuer refused: ${response.status} ${await response.text()}`);
  return (await response.json()).token;
}

// A value that changes over time, with a way to wait until a predicate holds.
class Watched {
  constructor() {
    this.waiters = [];
  }

  changed() {
    this.waiters = this.waiters.filter((waiter) => !waiter(this));
  }

  until(predicate, what, ms = 30000) {
    if (predicate(this)) return Promise.resolve(this);
    let offer;
    const arrived = new Promise((resolve) => {
      offer = (self) => (predicate(self) ? (resolve(self), true) : false);
    });
    this.waiters.push(offer);
    return within(arrived, ms, what);
  }
}

// fetchToken for setAuth: each call mints a token for `body` (or returns what
// `override` says) and is recorded with its forceRefreshToken flag and kid.
export class TokenFetcher extends Watched {
  constructor(issuer, body, override = null) {
    super();
    this.issuer = issuer;
    this.body = body;
    this.override = override;
    this.calls = [];
    this.fetch = (args) => this.call(args);
  }

  async call({ forceRefreshToken }) {
    const token = this.override ? await this.override(this.calls.length) : await mintToken(this.issuer, this.body);
    const kid = token ? decodeJwt(token).header.kid : null;
    this.calls.push({ forceRefreshToken, kid, at: Date.now() / 1000, token });
    this.changed();
    return token;
  }
}

// Every value onChange was called with, in order.
export class AuthChanges extends Watched {
  constructor() {
    super();
    this.values = [];
    this.onChange = (value) => {
      this.values.push(value);
      this.changed();
    };
  }

  count(value) {
    return this.values.filter((v) => v === value).length;
  }
}

// A client signed in as user_NAME (NAME@example.com), once the server said so.
export async function signIn(name) {
  const client = newAuthClient();
  const changes = new AuthChanges();
  const fetcher = new TokenFetcher(issuerUrl, { sub: `user_${name}`, email: `${name}@example.com`, ttl: 600 });
  client.setAuth(fetcher.fetch, changes.onChange);
  await changes.until((c) => c.values.length >= 1, `${name} onChange`);
  check(changes.values[0] === true, `${name} is signed in`, { values: changes.values });
  return client;
}
