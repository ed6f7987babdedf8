// Drives the dashboard in headless Debian Chromium with playwright-core,
// beside an app client (the official npm client, as an app uses it).
//
//   node e2e/dashboard.mjs SERVER_URL ADMIN_KEY [SCREENSHOT_DIR]
//
// Signs in with the admin key (a wrong one first), watches a table while
// the app client inserts, edits a document and waits for the app client's
// subscription to get it, runs functions, reads the health view, finds those
// runs in the logs view, and watches the connections view while the app
// client commits.
// Prints one JSON object per observation; tests/browser asserts on them.
// Every wait is for an element or a value, with a timeout, never for time.
import { ConvexClient } from "convex/browser";
import { anyApi } from "convex/server";
import { TIMEOUT, cells, emit, inBrowser, quiet, signIn } from "./browser.mjs";

const [serverUrl, adminKey, screenshots] = process.argv.slice(2);

// Every value an app subscription delivered, and a wait for one that matches.
function watch(client, ref, args) {
  const values = [];
  const waiters = [];
  client.onUpdate(ref, args, (value) => {
    values.push(value);
    for (const w of [...waiters]) {
      if (w.test(value)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(value);
      }
    }
  });
  return {
    values,
    until(test, what) {
      const seen = values.find(test);
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), TIMEOUT);
        waiters.push({ test, resolve: (v) => (clearTimeout(timer), resolve(v)) });
      });
    },
  };
}

const shot = async (page, name) => {
  if (screenshots) await page.screenshot({ path: `${screenshots}/${name}.png` });
};

const rowTexts = (page) => page.locator("[data-testid=documents] td[data-field=text]").allTextContents();

async function wrongKeyThenRight(page) {
  await page.goto(`${serverUrl}/_dashboard/`);
  await page.waitForSelector("[data-state=signed-out]");
  await page.getByLabel("Admin key").fill("livesync-admin-not-the-key");
  await page.getByRole("button", { name: "Sign in" }).click();
  const refused = await page.getByRole("alert").textContent();
  emit("wrong_key", { message: refused, signedIn: await page.locator("[data-state=signed-in]").count() });
  await signIn(page, serverUrl, adminKey);
  emit("signed_in", {});
}

async function data(page, app) {
  await page.waitForSelector("[data-testid=tables][data-loaded=true]");
  await page.getByTestId("table-tasks").click();
  await page.waitForSelector("[data-testid=documents][data-status=Exhausted]");
  const before = await rowTexts(page);
  await app.mutation(anyApi.tasks.add, { text: "added by the app", priority: 3 });
  await page.locator("td[data-field=text]", { hasText: "added by the app" }).waitFor();
  emit("live_insert", { before, after: await rowTexts(page) });

  await page.getByLabel("Index").selectOption("by_priority");
  await page.getByLabel("Order").selectOption("asc");
  await page.waitForFunction(() => {
    const cells = [...document.querySelectorAll("[data-testid=documents] td[data-field=priority]")];
    const values = cells.map((cell) => Number(cell.textContent));
    return values.length > 1 && values.every((v, n) => n === 0 || values[n - 1] <= v);
  });
  emit("by_priority", { texts: await rowTexts(page) });
  await shot(page, "data");
}

async function edit(page, app) {
  const list = watch(app, anyApi.tasks.list, {});
  await list.until((tasks) => tasks.some((t) => t.text === "added by the app"), "the app's list");
  const row = page.locator("tr", { has: page.locator("td[data-field=text]", { hasText: "added by the app" }) });
  await row.getByRole("button", { name: "Edit" }).click();
  const editor = page.getByTestId("editor");
  await editor.getByLabel("Document").fill('{"text": "added by the app", "done": true, "priority": "high"}');
  await editor.getByRole("button", { name: "Save" }).click();
  const refused = await editor.getByRole("alert").textContent();
  emit("edit_refused", { message: refused });

  await editor.getByLabel("Document").fill('{"text": "edited in the dashboard", "done": true, "priority": 3}');
  await editor.getByRole("button", { name: "Save" }).click();
  const seen = await list.until(
    (tasks) => tasks.some((t) => t.text === "edited in the dashboard"),
    "the edit in the app's subscription",
  );
  await page.locator("td[data-field=text]", { hasText: "edited in the dashboard" }).waitFor();
  emit("edit_seen", {
    app: seen.map((t) => ({ text: t.text, done: t.done, priority: t.priority })),
    everSawRefusedValue: list.values.some((tasks) => tasks.some((t) => t.priority === "high")),
    dashboard: await rowTexts(page),
  });

  const edited = page.locator("tr", { has: page.locator("td[data-field=text]", { hasText: "edited in the dashboard" }) });
  await edited.getByRole("button", { name: "Delete" }).click();
  await edited.getByRole("button", { name: "Really delete" }).click();
  await list.until((tasks) => !tasks.some((t) => t.text === "edited in the dashboard"), "the delete");
  await page.locator("td[data-field=text]", { hasText: "edited in the dashboard" }).waitFor({ state: "detached" });
  emit("deleted", { dashboard: await rowTexts(page) });
}

// The page numbers its runs; this script's are its only ones.
let runs = 0;

async function runFunction(page, path, args, actingAs) {
  await page.getByTestId(`function-${path}`).click();
  const runner = page.getByTestId("runner");
  await runner.getByLabel("Arguments (JSON)").fill(args);
  await runner.getByLabel("Act as (identity JSON, optional)").fill(actingAs);
  await runner.getByRole("button", { name: "Run" }).click();
  const result = runner.locator(`[data-testid=result][data-run="${++runs}"]`);
  await result.waitFor();
  return {
    ok: await result.getAttribute("data-ok"),
    value: await runner.getByTestId("result-value").textContent(),
    logs: await runner.locator("[data-testid=log-lines] li").allTextContents(),
    argsType: await runner.getByTestId("args-type").textContent(),
  };
}

async function functions(page) {
  await page.getByRole("link", { name: "Functions" }).click();
  await page.waitForSelector("[data-testid=functions][data-loaded=true]");
  const listed = await page.locator("[data-testid=functions] li").allTextContents();
  emit("functions_listed", { listed });
  emit("ran_shout", await runFunction(page, "tasks:shout", '{"text": "hey"}', ""));
  emit("ran_bad_args", await runFunction(page, "tasks:shout", '{"text": 5}', ""));
  emit("ran_internal", await runFunction(page, "tasks:count", "{}", ""));
  const alice = '{"subject": "alice", "issuer": "https://issuer.example.com"}';
  emit("ran_hello", await runFunction(page, "tasks:hello", '{"greeting": "hi"}', alice));
  await shot(page, "functions");
}

async function health(page) {
  await page.getByRole("link", { name: "Health" }).click();
  await page.waitForSelector("[data-testid=health]");
  const field = (name) => page.locator(`[data-field=${name}] dd`).textContent();
  emit("health", {
    version: await field("version"),
    store: await field("store"),
    node: await field("node"),
    uptime: await field("uptime"),
    functions: await field("functions"),
    nodes: await cells(page.locator("[data-testid=nodes] tbody tr")),
  });
  await shot(page, "health");
}

// The Logs view: the calls run from the Functions view, live, with their
// outcome, caller and log lines; then only the failures.
async function logs(page) {
  await page.getByRole("link", { name: "Logs" }).click();
  const entries = page.getByTestId("log-entries");
  const hello = entries.locator("tr[data-path='tasks:hello']");
  await hello.waitFor(); // written within a second of the call
  await hello.locator("summary").click();
  emit("logged_hello", {
    cells: (await cells(hello))[0],
    lines: await hello.locator("[data-field=log-lines] li").allTextContents(),
  });
  await shot(page, "logs");
  await page.getByLabel("Outcome").selectOption("false");
  await entries.locator("tr[data-ok=true]").first().waitFor({ state: "detached" });
  await entries.locator("tr[data-ok=false]").first().waitFor();
  emit("logged_failures", {
    rows: await entries.locator("tbody tr").evaluateAll((rows) =>
      rows.map((row) => [row.dataset.path, row.querySelector("[data-field=outcome]").textContent]),
    ),
  });
}

// The Connections view, while the app client commits: this node's counts by
// auth state, a chart drawn from the samples the page has kept, the rate of
// mutations, the app's query among those run with its mean time, and the
// app's cron job (every second) counted apart from scheduled jobs.
async function connections(page, app) {
  await page.getByRole("link", { name: "Connections" }).click();
  const node = page.locator("[data-testid=connections] article[data-node]");
  await page.waitForFunction(
    () => Number(document.querySelector("article[data-node]")?.dataset.samples) >= 2,
    null,
    { polling: 50 },
  );
  const committed = async () => parseInt(await node.locator("[data-field=mutations] dd").textContent(), 10);
  const before = await committed();
  for (let n = 0; n < 3; n++) await app.mutation(anyApi.tasks.add, { text: `burst ${n}`, priority: 5 });
  await page.waitForFunction(
    (wanted) => parseInt(document.querySelector("[data-field=mutations] dd")?.textContent ?? "", 10) >= wanted,
    before + 3,
    { polling: 50 },
  );
  await page.waitForSelector("[data-testid=chart-mutations]:not([data-max='0'])");
  await page.waitForSelector("[data-testid=chart-crons]:not([data-max='0'])");
  // The page's own list of nodes re-runs at every report: some query ran in
  // the last interval.
  await page.waitForSelector("[data-testid=queries] td[data-field=recent-mean]:text-matches('ms$')");
  const value = (id) => node.getByTestId(`value-${id}`).textContent();
  const chart = node.getByTestId("chart-authenticated");
  emit("connections", {
    nodes: await page.locator("article[data-node]").count(),
    here: await node.locator("h3").textContent(),
    authenticated: await value("authenticated"),
    unauthenticated: await value("unauthenticated"),
    subscriptions: await value("subscriptions"),
    committedBefore: before,
    committedAfter: await committed(),
    mutationsMax: Number(await node.getByTestId("chart-mutations").getAttribute("data-max")),
    cronsMax: Number(await node.getByTestId("chart-crons").getAttribute("data-max")),
    crons: await node.locator("[data-field=crons] dd").textContent(),
    jobs: await node.locator("[data-field=jobs] dd").textContent(),
    authenticatedPoints: Number(await chart.getAttribute("data-points")),
    polylines: await chart.locator("svg polyline").count(),
    queries: await cells(node.locator("[data-testid=queries] tbody tr")),
  });
  await shot(page, "connections");
}

const app = new ConvexClient(serverUrl, { unsavedChangesWarning: false, logger: quiet });
await inBrowser(
  async (page) => {
    await app.mutation(anyApi.tasks.add, { text: "first task", priority: 1 });
    await app.mutation(anyApi.tasks.add, { text: "urgent task", priority: 9 });
    await wrongKeyThenRight(page);
    await data(page, app);
    await edit(page, app);
    await functions(page);
    await health(page);
    await logs(page);
    await connections(page, app);
  },
  () => app.close(),
);
