// The dashboard of `livesync dev`, in headless Chromium on this machine:
// the page opens signed in (no key asked on loopback), and a function runs
// signed in as a user with a token the dev issuer signs, then shows in the
// Logs view with that user as its caller.
//
//   node e2e/dev.mjs SERVER_URL
//
// Prints one JSON object per observation; tests/browser asserts on them.
import { cells, emit, inBrowser } from "./browser.mjs";

const [serverUrl] = process.argv.slice(2);

await inBrowser(async (page) => {
  await page.goto(`${serverUrl}/_dashboard/`);
  await page.waitForSelector("[data-state=signed-in]");
  emit("signed_in", { signedOutForms: await page.locator("[data-state=signed-out]").count() });

  await page.getByRole("link", { name: "Functions" }).click();
  await page.getByTestId("function-tasks:hello").click();
  const runner = page.getByTestId("runner");
  await runner.getByLabel("Arguments (JSON)").fill('{"greeting": "hello"}');
  await runner.getByLabel("Sign in as").fill("bob");
  await runner.getByRole("button", { name: "Run" }).click();
  await runner.locator("[data-testid=result][data-run='1']").waitFor();
  emit("ran_as_bob", {
    ok: await runner.getByTestId("result").getAttribute("data-ok"),
    value: await runner.getByTestId("result-value").textContent(),
    logs: await runner.locator("[data-testid=log-lines] li").allTextContents(),
  });

  // Both ways at once is refused before anything runs.
  await runner.getByLabel("Act as (identity JSON, optional)").fill('{"subject": "carol"}');
  await runner.getByRole("button", { name: "Run" }).click();
  emit("both_refused", { message: await runner.getByRole("alert").textContent() });

  await page.getByRole("link", { name: "Logs" }).click();
  const hello = page.getByTestId("log-entries").locator("tr[data-path='tasks:hello']");
  await hello.waitFor();
  emit("logged", { cells: (await cells(hello))[0] });
});
