// Drives the built app in headless Debian Chromium with playwright-core.
//
//   node e2e/chat.mjs SCENARIO APP_URL BACKEND_URL [SCREENSHOT]
//
// SCENARIO is "chat" (auth states, own messages, two users, live channel,
// sign-out) or "refresh" (short-lived tokens refreshed while updates flow).
// Prints one JSON object per observation; tests/browser asserts on them.
// Every wait is for an element or request, with a timeout, never for time.
import { chromium } from "playwright-core";

const [scenario, appUrl, backendUrl, screenshot] = process.argv.slice(2);
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

async function openPage(browser, query = "") {
  const context = await browser.newContext({ viewport: { width: 1000, height: 640 } });
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  page.on("pageerror", (error) => emit("page_error", { message: String(error) }));
  await page.addInitScript(recordStates);
  const url = `${appUrl}/?backend=${encodeURIComponent(backendUrl)}${query}`;
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
  await page.getByLabel("Message").fill(text);
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

const browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS });
try {
  if (scenario === "chat") await chat(browser);
  else if (scenario === "refresh") await refresh(browser, 3);
  else throw new Error(`unknown scenario ${scenario}`);
} finally {
  await browser.close();
}
