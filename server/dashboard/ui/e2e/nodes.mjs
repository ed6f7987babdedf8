// The dashboard of a deployment of two nodes (one PostgreSQL database), in
// headless Chromium: the page on node A, an app client on each node.
//
//   node e2e/nodes.mjs NODE_A_URL NODE_B_URL ADMIN_KEY
//
// The Health view lists both nodes; the Connections view draws each and a
// table of totals whose last row sums the nodes' rows, and follows node B's
// mutations although the page is connected to node A.
// Prints one JSON object per observation; tests/browser asserts on them.
import { ConvexClient } from "convex/browser";
import { anyApi } from "convex/server";
import { cells, emit, inBrowser, quiet, signIn } from "./browser.mjs";

const [urlA, urlB, adminKey] = process.argv.slice(2);
const options = { unsavedChangesWarning: false, logger: quiet };
// Signed out, subscribed: one unauthenticated connection on each node.
const appA = new ConvexClient(urlA, options);
const appB = new ConvexClient(urlB, options);

// Waits until the Totals row's cell `column` holds at least `least`.
const totalAtLeast = (page, column, least) =>
  page.waitForFunction(
    ([n, wanted]) => {
      const cell = document.querySelector("[data-testid=total]")?.querySelectorAll("th")[n];
      return Number(cell?.textContent) >= wanted;
    },
    [column, least],
    { polling: 50 },
  );
// Columns of the totals table.
const AUTHENTICATED = 1;
const UNAUTHENTICATED = 2;
const MUTATIONS_PER_MINUTE = 5;

await inBrowser(
  async (page) => {
    appA.onUpdate(anyApi.tasks.list, {}, () => {});
    appB.onUpdate(anyApi.tasks.list, {}, () => {});
    await appB.mutation(anyApi.tasks.add, { text: "from node B", priority: 1 });
    await signIn(page, urlA, adminKey);

    await page.getByRole("link", { name: "Health" }).click();
    await page.locator("[data-testid=nodes] tbody tr").nth(1).waitFor();
    emit("health", { nodes: await cells(page.locator("[data-testid=nodes] tbody tr")) });

    await page.getByRole("link", { name: "Connections" }).click();
    // The page itself (admin) and both app clients counted, as of each
    // node's latest report; each node reported twice (a rate needs two).
    await totalAtLeast(page, AUTHENTICATED, 1);
    await totalAtLeast(page, UNAUTHENTICATED, 2);
    await page.locator("article[data-node]").nth(1).waitFor();
    await page.waitForFunction(
      () => [...document.querySelectorAll("article[data-node]")].every((a) => Number(a.dataset.samples) >= 2),
      null,
      { polling: 50 },
    );
    for (let n = 0; n < 3; n++) await appB.mutation(anyApi.tasks.add, { text: `burst ${n}`, priority: 2 });
    // Node B's mutations reach the page through node B's reports alone.
    await totalAtLeast(page, MUTATIONS_PER_MINUTE, 0.1);
    const rows = page.locator("[data-testid=totals] tbody tr");
    emit("totals", {
      header: await page.locator("[data-testid=totals] thead th").allTextContents(),
      rows: await cells(rows),
      articles: await page.locator("article[data-node] h3").allTextContents(),
    });
  },
  async () => {
    await appA.close();
    await appB.close();
  },
);
