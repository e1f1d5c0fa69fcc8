// Browser test of what an operator looks for on the Installed page, in Debian's headless
// Chromium (playwright-core). Run by tests/node/operator.rs with ATOLL_URL (the node, token in
// the fragment), ATOLL_SHOTS, OPERATED_APP (ref of an installed two-container app whose worker
// was killed and restarted once) and OPERATED_PORT (where its web container serves
// /config.txt holding its `show` credential).
// - each container's restarts and last failure are on the card;
// - usage shows memory against the limit and the volume's size;
// - logs: the quiet container says "No output yet.", the worker's log is followed live;
// - a stop and a start through the API show on the page without a reload, and the open
//   panels (logs with its container choice and follow, usage) stay as they were;
// - "show credentials" shows the credential the app got, with a copy button;
// - an app installed through the API while the page is open (NEW_APP) is announced, and
//   "show" puts its card on the page.
import { mkdirSync } from "node:fs";
import { launchChromium } from "./chromium.mjs";

const url = process.env.ATOLL_URL;
const shots = process.env.ATOLL_SHOTS || ".";
const app = process.env.OPERATED_APP;
const port = process.env.OPERATED_PORT;
const newApp = process.env.NEW_APP;
if (!url || !app || !port || !newApp) {
  console.error("ATOLL_URL, OPERATED_APP, OPERATED_PORT and NEW_APP must be set");
  process.exit(2);
}
const base = url.split("#")[0];
const origin = new URL(base).origin;
const token = url.split("#token=")[1];
const browser = await launchChromium();
const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
const pageErrors = [];
page.on("pageerror", (e) => pageErrors.push(String(e)));
let step = "start";
function expect(cond, what) { if (!cond) throw new Error(step + ": " + what); }
async function act(action, target = app) {
  const r = await fetch(origin + "/api/v1/actions/" + action, {
    method: "POST", headers: { "Authorization": "Bearer " + token, "Content-Type": "application/json" },
    body: JSON.stringify({ app: target }),
  });
  expect(r.status === 202, action + " answered " + r.status);
}

try {
  step = "the Installed page lists the app";
  await page.goto(url);
  await page.goto(base + "#/installed");
  const card = page.locator(`[data-testid=installed-app][data-ref="${app}"]`);
  await card.waitFor({ timeout: 20000 });

  step = "restarts and the last failure per container";
  const worker = card.locator("[data-testid=container-row][data-ref=worker]");
  expect((await worker.locator("[data-testid=restarts]").innerText()) === "restarts 1", "worker: " + await worker.innerText());
  expect((await worker.locator("[data-testid=last-failure]").innerText()).includes("exited with code 137"), "no last failure: " + await worker.innerText());
  expect((await card.locator("[data-testid=container-row][data-ref=web] [data-testid=restarts]").innerText()) === "restarts 0", "web restarts");
  await page.evaluate(() => { window.__sameDocument = true; });

  step = "usage next to the limits";
  await card.locator("[data-testid=usage-button]").click();
  const usage = card.locator("[data-testid=usage-row][data-ref=worker]");
  await usage.waitFor({ timeout: 20000 });
  expect((await usage.locator("[data-testid=usage-memory]").innerText()).endsWith(" / 32.0 MiB"), "memory: " + await usage.innerText());
  expect((await usage.locator("[data-testid=usage-cpu]").innerText()).includes("of 0.25 CPU"), "cpu: " + await usage.innerText());
  expect((await usage.locator("[data-testid=usage-disk]").innerText()) === "data 97.7 KiB", "disk: " + await usage.innerText());

  step = "an empty log says so";
  await card.locator("[data-testid=logs-button]").click();
  const logs = card.locator("[data-testid=logs-panel]");
  await logs.locator("[data-testid=log-container]").selectOption("web");
  await logs.locator("[data-testid=logs-empty]").waitFor({ state: "visible", timeout: 20000 });
  expect((await logs.locator("[data-testid=logs-empty]").innerText()) === "No output yet.", "no empty note");
  expect(!(await logs.locator("[data-testid=logs]").isVisible()), "an empty black bar is shown");

  step = "the worker's log followed live";
  await logs.locator("[data-testid=log-container]").selectOption("worker");
  await logs.locator("[data-testid=log-follow]").check();
  const pre = logs.locator("[data-testid=logs]");
  await page.waitForFunction((el) => /tick \d+/.test(el.textContent), await pre.elementHandle(), { timeout: 30000 });
  const ticks = async () => ((await pre.innerText()).match(/tick \d+/g) || []).length;
  const before = await ticks();
  await page.waitForFunction(([el, n]) => (el.textContent.match(/tick \d+/g) || []).length > n,
    [await pre.elementHandle(), before], { timeout: 30000 });
  expect(!(await pre.innerText()).includes("worker: "), "one container's lines carry its name");

  step = "a stop through the API shows without a reload";
  await act("stop");
  const state = card.locator("[data-testid=state]");
  await page.waitForFunction((el) => el.textContent === "stopped", await state.elementHandle(), { timeout: 60000 });
  expect(await page.evaluate(() => window.__sameDocument === true), "the page was reloaded");
  expect(!(await card.locator("[data-testid=health]").isVisible()), "a health badge while stopped");
  expect(await card.locator("[data-testid=control] [data-testid=start]").count() === 1, "no start button");
  expect((await card.locator("[data-testid=wanted]").innerText()) === " · wanted stopped", "wanted is not live");
  await page.waitForFunction((el) => el.textContent.startsWith("Stopped following"),
    await logs.locator("[data-testid=logs-status]").elementHandle(), { timeout: 30000 });

  step = "the open panels stayed as they were";
  expect(await logs.isVisible(), "the logs panel closed");
  expect(await logs.locator("[data-testid=log-container]").inputValue() === "worker", "the container choice was lost");
  expect(await logs.locator("[data-testid=log-follow]").isChecked(), "follow was unticked");
  expect((await pre.innerText()).includes("tick"), "the lines shown were wiped");
  expect(await card.locator("[data-testid=usage-panel]").isVisible(), "the usage panel closed");
  mkdirSync(shots, { recursive: true });
  await page.screenshot({ path: shots + "/operator-stopped.png", fullPage: true });

  step = "a start through the API shows without a reload";
  await act("start");
  await page.waitForFunction((el) => el.textContent === "running", await state.elementHandle(), { timeout: 60000 });
  expect(await page.evaluate(() => window.__sameDocument === true), "the page was reloaded");
  expect(await card.locator("[data-testid=control] [data-testid=stop]").count() === 1, "no stop button");

  step = "show credentials";
  await card.locator("[data-testid=show-credentials]").click();
  const creds = card.locator("[data-testid=installed-credentials]");
  const value = creds.locator("[data-testid=credential-value]");
  await value.waitFor({ timeout: 20000 });
  const shown = await value.innerText();
  expect(/^[A-Za-z0-9]{24}$/.test(shown), "not a 24-character credential: " + shown);
  const served = await (await fetch("http://127.0.0.1:" + port + "/config.txt")).text();
  expect(served === "pass=" + shown + "\n", "the app has " + JSON.stringify(served));
  expect((await creds.locator("[data-testid=credential]").innerText()).includes("admin-password (container web)"), "not named");
  expect(await creds.locator("[data-testid=copy-credential]").count() === 1, "no copy button");
  await page.screenshot({ path: shots + "/operator-credentials.png", fullPage: true });
  await creds.locator("[data-testid=hide-credentials]").click();
  expect(!(await creds.isVisible()), "the credentials stay after Hide");

  step = "an app installed elsewhere is announced and shown on request";
  const banner = page.locator("[data-testid=installed-new]");
  expect(!(await banner.isVisible()), "a banner before anything was installed elsewhere");
  await act("install", newApp);
  await banner.waitFor({ state: "visible", timeout: 60000 });
  expect((await banner.innerText()).includes("Plain Page"), "the banner says " + await banner.innerText());
  expect(await page.locator(`[data-testid=installed-app][data-ref="${newApp}"]`).count() === 0, "re-rendered without asking");
  expect(await logs.isVisible(), "the announcement closed the open logs panel");
  await banner.locator("[data-testid=show-new-installed]").click();
  const added = page.locator(`[data-testid=installed-app][data-ref="${newApp}"]`);
  await added.waitFor({ timeout: 20000 });
  await page.waitForFunction((el) => el.textContent === "running",
    await added.locator("[data-testid=state]").elementHandle(), { timeout: 120000 });
  expect(!(await page.locator("[data-testid=installed-new]").isVisible()), "the banner stays after show");

  expect(pageErrors.length === 0, "page errors: " + pageErrors.join(" | "));
  console.log("operator browser test passed");
  await browser.close();
  process.exit(0);
} catch (e) {
  console.error(String(e));
  try { mkdirSync(shots, { recursive: true }); await page.screenshot({ path: shots + "/operator-failed.png", fullPage: true }); } catch {}
  await browser.close();
  process.exit(1);
}
