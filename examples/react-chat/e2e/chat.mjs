// Drives the built app in headless Debian Chromium with playwright-core.
//
//   node e2e/chat.mjs SCENARIO APP_URL BACKEND_URL [SCREENSHOT]
//   node e2e/chat.mjs cluster APP_URL BALANCER_URL ISSUER_URL
//
// SCENARIO is "chat" (auth states, own messages, two users, live channel,
// sign-out), "refresh" (short-lived tokens refreshed while updates flow),
// "pages" (the paginated history while messages are sent and deleted),
// "vanish" (a message the server's scheduler deletes after 1 s), "image"
// (an image uploaded with a message, shown to another user), "search"
// (search as you type, a new match arriving live) or
// "cluster" (two users through a load balancer; midway it prints
// "both_live" and waits for a line on stdin, which the test sends once it
// has killed a node).
// Prints one JSON object per observation; tests/browser asserts on them.
// Every wait is for an element, request or line, with a timeout, never for time.
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

const [scenario, appUrl, backendUrl, extra] = process.argv.slice(2);
// The fourth argument is the screenshot path, except in "cluster": the issuer.
const screenshot = scenario === "cluster" ? undefined : extra;
const issuerUrl = scenario === "cluster" ? extra : undefined;
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const TIMEOUT = 15_000;
// Without the background-networking flags Chromium keeps dialing Google
// services, which a closed network refuses many times over.
const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

const emit = (event, fields = {}) => console.log(JSON.stringify({ event, ...fields }));

// Records every distinct set of [data-state] markers the page shows, in order,
// so a state that is on screen only briefly (AuthLoading) is still seen.
function recordStates() {
  window.__states = [];
  const snapshot = () => {
    const now = [...document.querySelectorAll("[data-state]")]
      .map((el) => el.dataset.state)
      .join(",");
    if (now && window.__states.at(-1) !== now) window.__states.push(now);
  };
  new MutationObserver(snapshot).observe(document, {
    childList: true,
    subtree: true,
    attributes: true,
  });
}

// The URL of every WebSocket each page opened, in order (a reconnect adds one).
const socketsOf = new WeakMap();

async function openPage(browser, query = "") {
  const context = await browser.newContext({ viewport: { width: 1000, height: 640 } });
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  page.on("pageerror", (error) => emit("page_error", { message: String(error) }));
  const sockets = [];
  socketsOf.set(page, sockets);
  page.on("websocket", (socket) => sockets.push(socket.url()));
  await page.addInitScript(recordStates);
  const issuer = issuerUrl ? `&issuer=${encodeURIComponent(issuerUrl)}` : "";
  const url = `${appUrl}/?backend=${encodeURIComponent(backendUrl)}${issuer}${query}`;
  await page.goto(url);
  await page.waitForSelector("[data-state=unauthenticated]");
  return page;
}

async function signIn(page, name) {
  await page.getByLabel("Username").fill(name);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForSelector("[data-state=authenticated]");
  await page.waitForSelector("[data-testid=mine][data-loaded=true]");
  await page.waitForSelector("[data-testid=channel][data-loaded=true]");
}

async function send(page, text) {
  await page.getByLabel("Message", { exact: true }).fill(text);
  await page.getByRole("button", { name: "Send" }).click();
}

const bodies = (page, list) =>
  page.locator(`[data-testid=${list}] li .body`).allTextContents();

function waitForBody(page, list, text) {
  return page
    .locator(`[data-testid=${list}] li .body`, { hasText: text })
    .first()
    .waitFor();
}

const states = (page) => page.evaluate(() => window.__states);

async function chat(browser) {
  const alice = await openPage(browser);
  emit("loaded", { states: await states(alice) });

  await signIn(alice, "alice");
  emit("signed_in", {
    whoami: await alice.getByTestId("whoami").textContent(),
    mine: await bodies(alice, "mine"),
  });

  await send(alice, "hello from alice");
  await waitForBody(alice, "mine", "hello from alice");
  await waitForBody(alice, "channel", "hello from alice");
  emit("alice_sent", { mine: await bodies(alice, "mine"), channel: await bodies(alice, "channel") });

  const bob = await openPage(browser);
  await signIn(bob, "bob");
  await waitForBody(bob, "channel", "hello from alice");
  emit("bob_signed_in", { mine: await bodies(bob, "mine"), channel: await bodies(bob, "channel") });

  await send(alice, "second from alice");
  await waitForBody(bob, "channel", "second from alice");
  await send(bob, "hi from bob");
  await waitForBody(alice, "channel", "hi from bob");
  await waitForBody(bob, "mine", "hi from bob");
  emit("live", {
    alice_mine: await bodies(alice, "mine"),
    alice_channel: await bodies(alice, "channel"),
    bob_mine: await bodies(bob, "mine"),
    bob_channel: await bodies(bob, "channel"),
  });

  if (screenshot) await alice.screenshot({ path: screenshot });

  await alice.getByRole("button", { name: "Sign out" }).click();
  await alice.waitForSelector("[data-state=unauthenticated]");
  emit("signed_out", {
    states: await states(alice),
    authenticated_left: await alice.locator("[data-state=authenticated]").count(),
  });
}

async function vanish(browser) {
  const alice = await openPage(browser, "&vanish=1");
  await signIn(alice, "alice");
  await send(alice, "here to stay");
  await alice.getByLabel("Vanish after 1 s").check();
  await send(alice, "gone in a second");
  await waitForBody(alice, "channel", "gone in a second");
  const sent = Date.now();
  const marked = alice.locator("[data-testid=channel] li[data-vanishing=true] .body");
  emit("vanishing_shown", { channel: await bodies(alice, "channel"), marked: await marked.allTextContents() });
  await alice
    .locator("[data-testid=channel] li .body", { hasText: "gone in a second" })
    .waitFor({ state: "detached" });
  emit("vanished", { channel: await bodies(alice, "channel"), after_ms: Date.now() - sent });
}

// A 2x1 PNG: one red pixel, one blue.
const PNG = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAIAAAABCAIAAAB7QOjdAAAAEElEQVR4nGP4z8DAwMDAAAAH/gH/ZgqJ3QAAAABJRU5ErkJggg==",
  "base64",
);

async function image(browser) {
  const alice = await openPage(browser);
  await signIn(alice, "alice");
  await alice.getByLabel("Attach image").setInputFiles({ name: "dot.png", mimeType: "image/png", buffer: PNG });
  await send(alice, "with a picture");
  const bob = await openPage(browser);
  await signIn(bob, "bob");
  const picture = bob.locator("[data-testid=channel] li", { hasText: "with a picture" }).locator("img.attached");
  await picture.waitFor();
  // Loaded from the server, not just placed: the browser decoded the image.
  await bob.waitForFunction((img) => img.complete && img.naturalWidth > 0, await picture.elementHandle());
  const src = await picture.getAttribute("src");
  const size = await picture.evaluate((img) => [img.naturalWidth, img.naturalHeight]);
  const fetched = await bob.evaluate(async (url) => {
    const reply = await fetch(url);
    return { status: reply.status, type: reply.headers.get("content-type"), bytes: (await reply.arrayBuffer()).byteLength };
  }, src);
  emit("image_shown", { src, size, fetched, input_cleared: await alice.getByLabel("Attach image").inputValue() });
}

// Alice searches as she types; a message Bob sends that matches joins her
// results while she watches, and one that does not match stays out.
async function search(browser) {
  const alice = await openPage(browser);
  await signIn(alice, "alice");
  await send(alice, "deploy the rocket tonight");
  await waitForBody(alice, "channel", "deploy the rocket tonight");
  await send(alice, "lunch plans");
  await waitForBody(alice, "channel", "lunch plans");
  await alice.getByLabel("Search messages").fill("deplo");
  await waitForBody(alice, "search", "deploy the rocket tonight");
  const first = await bodies(alice, "search");
  const bob = await openPage(browser);
  await signIn(bob, "bob");
  await send(bob, "more lunch talk");
  await send(bob, "deploy again tomorrow");
  await waitForBody(alice, "search", "deploy again tomorrow");
  emit("searched", { first, live: await bodies(alice, "search") });
  await alice.getByLabel("Search messages").fill("nothing matches this");
  await alice.getByText("No matches.").waitFor();
  emit("no_match", { shown: await bodies(alice, "search") });
}

async function refresh(browser, rounds) {
  const page = await openPage(browser, "&tokenTtl=8&leeway=3");
  const minted = [];
  page.on("request", (request) => {
    if (request.method() === "POST" && request.url().endsWith("/dev-issuer/token")) {
      minted.push(Date.now());
    }
  });
  await signIn(page, "carol");
  const start = Date.now();
  const afterSignIn = (await states(page)).length;
  for (let round = 1; round <= rounds; round++) {
    const before = minted.length;
    // The client refetches a token (leeway) seconds before the current one expires.
    await page.waitForRequest((r) => r.url().endsWith("/dev-issuer/token"), { timeout: 20_000 });
    await send(page, `after refresh ${round}`);
    await waitForBody(page, "mine", `after refresh ${round}`);
    emit("refreshed", { round, tokens_before: before, seconds: (Date.now() - start) / 1000 });
  }
  emit("refresh_done", {
    tokens: minted.length,
    seconds: (Date.now() - start) / 1000,
    mine: await bodies(page, "mine"),
    states_since_sign_in: (await states(page)).slice(afterSignIn - 1),
  });
}

// Every distinct list the paginated history showed, in order.
function recordHistory() {
  window.__history = [];
  const snapshot = () => {
    const list = document.querySelector("[data-testid=history] ul");
    if (!list) return;
    const now = [...list.querySelectorAll(".body")].map((el) => el.textContent);
    const last = window.__history.at(-1);
    if (!last || JSON.stringify(last) !== JSON.stringify(now)) window.__history.push(now);
  };
  new MutationObserver(snapshot).observe(document, {
    childList: true,
    subtree: true,
    characterData: true,
  });
}

const historyBodies = (page) => bodies(page, "history");

// Wait until the history shows exactly `expected` with `status`; report it.
async function expectHistory(page, step, expected, status) {
  try {
    await page.waitForFunction(
      ([want, wantStatus]) => {
        const box = document.querySelector("[data-testid=history]");
        const now = [...(box?.querySelectorAll("li .body") ?? [])].map((el) => el.textContent);
        return box?.dataset.status === wantStatus && JSON.stringify(now) === JSON.stringify(want);
      },
      [expected, status],
    );
  } catch (error) {
    emit("history_mismatch", {
      step,
      expected,
      status,
      shown: await historyBodies(page),
      shownStatus: await page.getByTestId("history").getAttribute("data-status"),
    });
    throw error;
  }
  emit("history", { step, shown: await historyBodies(page), status });
}

async function pages(browser) {
  // Dana posts seven messages, then opens the app again: the history loads
  // page by page from the newest.
  const seeder = await openPage(browser);
  await signIn(seeder, "dana");
  for (let n = 1; n <= 7; n++) {
    await send(seeder, `m0${n}`);
    await waitForBody(seeder, "channel", `m0${n}`);
  }
  await seeder.context().close();

  const page = await openPage(browser);
  await page.addInitScript(recordHistory);
  // The split shows on the wire: the hook subscribes to two pages named by
  // endCursor, each with its own pinned end.
  const splitAdds = [];
  let splitSeen;
  const split = new Promise((resolve) => (splitSeen = resolve));
  page.on("websocket", (socket) =>
    socket.on("framesent", ({ payload }) => {
      if (typeof payload !== "string" || !payload.includes('"ModifyQuerySet"')) return;
      for (const mod of JSON.parse(payload).modifications) {
        if (mod.type === "Add" && mod.args[0]?.paginationOpts?.endCursor != null) {
          splitAdds.push(mod.args[0].paginationOpts);
          if (splitAdds.length >= 2) splitSeen();
        }
      }
    }),
  );
  await page.reload();
  await page.waitForSelector("[data-state=unauthenticated]");
  await signIn(page, "dana");
  await expectHistory(page, "first_page", ["m07", "m06", "m05"], "CanLoadMore");
  await page.getByRole("button", { name: "Load more" }).click();
  await expectHistory(page, "two_pages", ["m07", "m06", "m05", "m04", "m03", "m02"], "CanLoadMore");

  // Sent into page 1: it grows, and m05 (its last row) stays.
  await send(page, "m08");
  await expectHistory(
    page,
    "sent_into_page_1",
    ["m08", "m07", "m06", "m05", "m04", "m03", "m02"],
    "CanLoadMore",
  );
  // Deleted from page 1: it shrinks, and no row of page 2 shows twice.
  await page.getByRole("button", { name: "Delete m06" }).click();
  await expectHistory(
    page,
    "deleted_from_page_1",
    ["m08", "m07", "m05", "m04", "m03", "m02"],
    "CanLoadMore",
  );
  // Deleted at the end of page 2: the next page still starts after it.
  await page.getByRole("button", { name: "Delete m02" }).click();
  await expectHistory(page, "deleted_page_2_end", ["m08", "m07", "m05", "m04", "m03"], "CanLoadMore");
  await page.getByRole("button", { name: "Load more" }).click();
  await expectHistory(page, "last_page", ["m08", "m07", "m05", "m04", "m03", "m01"], "Exhausted");
  // Page 1 grows past twice its size: the hook splits it in two, and the
  // list is unchanged.
  for (const body of ["m09", "m10", "m11", "m12"]) {
    await send(page, body);
    await waitForBody(page, "history", body);
  }
  let timer;
  await Promise.race([
    split,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error("no split page subscribed")), TIMEOUT);
    }),
  ]).finally(() => clearTimeout(timer));
  const grown = ["m12", "m11", "m10", "m09", "m08", "m07", "m05", "m04", "m03", "m01"];
  await expectHistory(page, "grown_page_1", grown, "Exhausted");
  // A delete inside the first half of the split page.
  await page.getByRole("button", { name: "Delete m11" }).click();
  await expectHistory(page, "deleted_after_split", grown.filter((b) => b !== "m11"), "Exhausted");
  emit("history_seen", {
    lists: await page.evaluate(() => window.__history),
    splitAdds,
  });
}

// The next line the test writes on stdin, or an error after `ms`.
function nextLine(lines, what, ms = TIMEOUT) {
  let timer;
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no line on stdin within ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([lines.next(), deadline]).finally(() => clearTimeout(timer));
}

const channels = async (alice, bob) => ({
  alice_channel: await bodies(alice, "channel"),
  bob_channel: await bodies(bob, "channel"),
});

// Alice and Bob each open the app at the balancer's URL (round robin puts
// their sockets on different nodes); each sees the other's messages live.
// Then the test kills a node, and both keep chatting: the page that lost
// its node reconnects through the balancer to the one left.
async function cluster(browser) {
  const input = createInterface({ input: process.stdin });
  const lines = input[Symbol.asyncIterator]();
  try {
    const alice = await openPage(browser);
    await signIn(alice, "alice");
    await send(alice, "hello from alice");
    await waitForBody(alice, "channel", "hello from alice");

    const bob = await openPage(browser);
    await signIn(bob, "bob");
    await waitForBody(bob, "channel", "hello from alice");
    await send(alice, "second from alice");
    await waitForBody(bob, "channel", "second from alice");
    await send(bob, "hi from bob");
    await waitForBody(alice, "channel", "hi from bob");
    const signedIn = { alice: (await states(alice)).length, bob: (await states(bob)).length };
    emit("both_live", {
      ...(await channels(alice, bob)),
      alice_sockets: socketsOf.get(alice),
      bob_sockets: socketsOf.get(bob),
    });

    const reply = await nextLine(lines, "the test killing a node");
    emit("node_killed", { reply: reply.value });
    // Sent at once: on the page whose socket died, the mutation waits for the reconnect.
    await send(alice, "alice after the kill");
    await send(bob, "bob after the kill");
    for (const page of [alice, bob]) {
      await waitForBody(page, "channel", "alice after the kill");
      await waitForBody(page, "channel", "bob after the kill");
    }
    await waitForBody(alice, "mine", "alice after the kill");
    await waitForBody(bob, "mine", "bob after the kill");
    emit("after_kill", {
      ...(await channels(alice, bob)),
      alice_mine: await bodies(alice, "mine"),
      bob_mine: await bodies(bob, "mine"),
      alice_sockets: socketsOf.get(alice),
      bob_sockets: socketsOf.get(bob),
      alice_states: (await states(alice)).slice(signedIn.alice - 1),
      bob_states: (await states(bob)).slice(signedIn.bob - 1),
    });
  } finally {
    input.close();
  }
}

const browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS });
try {
  if (scenario === "chat") await chat(browser);
  else if (scenario === "refresh") await refresh(browser, 3);
  else if (scenario === "pages") await pages(browser);
  else if (scenario === "vanish") await vanish(browser);
  else if (scenario === "image") await image(browser);
  else if (scenario === "search") await search(browser);
  else if (scenario === "cluster") await cluster(browser);
  else throw new Error(`unknown scenario ${scenario}`);
} finally {
  await browser.close();
}
