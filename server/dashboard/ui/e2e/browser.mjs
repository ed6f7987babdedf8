// What the dashboard's e2e scripts share: headless Debian Chromium through
// playwright-core, one JSON line per observation, and a quiet logger for
// the official client beside the page.
import { chromium } from "playwright-core";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
export const TIMEOUT = 15_000;
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

export const emit = (event, fields = {}) => console.log(JSON.stringify({ event, ...fields }));
export const quiet = { log() {}, warn() {}, error() {}, logVerbose() {} };

// Cells of each row of the table `rows` selects, as text.
export const cells = (rows) =>
  rows.evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll("td, th")].map((cell) => cell.textContent)));

// Runs `scenario(page)` in a fresh page, then `cleanup()`; emits "passed",
// or "failed" with the error (and exits non-zero), and any page error.
export async function inBrowser(scenario, cleanup = async () => {}) {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS });
  try {
    const context = await browser.newContext({ viewport: { width: 1200, height: 720 } });
    const page = await context.newPage();
    page.setDefaultTimeout(TIMEOUT);
    page.on("pageerror", (error) => emit("page_error", { message: String(error) }));
    await scenario(page);
    emit("passed", {});
  } catch (error) {
    emit("failed", { message: String(error?.stack ?? error) });
    process.exitCode = 1;
  } finally {
    await cleanup();
    await browser.close();
  }
}

// Signs in with `key` on the dashboard of `serverUrl`.
export async function signIn(page, serverUrl, key) {
  await page.goto(`${serverUrl}/_dashboard/`);
  await page.waitForSelector("[data-state=signed-out]");
  await page.getByLabel("Admin key").fill(key);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForSelector("[data-state=signed-in]");
}
