// Browser test of install and uninstall outcomes in Debian's headless Chromium
// (playwright-core). Run by tests/node/install.rs with ATOLL_URL (the node, token in the
// fragment), ATOLL_SHOTS, INSTALL_APP (ref of an app with one published port, a volume and
// a secret, not installed, no data kept), INSTALL_MANIFEST_PORT (its manifest's host port),
// INSTALL_PORT (a free port) and INSTALL_BUSY_PORT (a port the test holds bound).
// The port field is prefilled and its value used; the Install button stays disabled while
// the job runs; the outcome (with "Open <url>") stays after the page re-renders to its new
// state, until dismissed; uninstall asks first, saying what data there is, keeping it by
// default; kept data is listed on the Installed page and offered on the app page, where
// "start fresh" deletes it first; kept data is deleted from the Installed page; a port
// conflict's reason stays on screen and names the port field; a purge leaves no data.
// Exits non-zero on the first failed expectation, with a screenshot.
import { mkdirSync } from "node:fs";
import { launchChromium } from "./chromium.mjs";

const url = process.env.ATOLL_URL;
const shots = process.env.ATOLL_SHOTS || ".";
const app = process.env.INSTALL_APP;
const manifestPort = process.env.INSTALL_MANIFEST_PORT;
const port = process.env.INSTALL_PORT;
const busy = process.env.INSTALL_BUSY_PORT;
if (!url || !app || !manifestPort || !port || !busy) {
  console.error("ATOLL_URL, INSTALL_APP, INSTALL_MANIFEST_PORT, INSTALL_PORT and INSTALL_BUSY_PORT must be set");
  process.exit(2);
}
const base = url.split("#")[0];
const appUrl = base + "#/app/" + app.split("/").map(encodeURIComponent).join("/");
const browser = await launchChromium();
const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
const pageErrors = [];
const dialogs = [];
page.on("pageerror", (e) => pageErrors.push(String(e)));
page.on("dialog", (d) => { dialogs.push(d.message()); d.dismiss(); });
let step = "start";
function expect(cond, what) { if (!cond) throw new Error(step + ": " + what); }

const outcomes = page.locator("[data-testid=outcome]");
const messageOf = (o) => o.locator("[data-testid=progress-message], [data-testid=outcome-message]");
// Record, while a job runs, each progress text and whether an Install button was live.
async function watchJob() {
  await page.evaluate(() => {
    window.__job = { texts: [], live: [] };
    if (window.__watching) return;
    window.__watching = true;
    new MutationObserver(() => {
      const m = document.querySelector("[data-testid=progress-message]");
      if (!m || m.closest("[data-testid=outcome]")) return;
      window.__job.texts.push(m.textContent);
      const b = document.querySelector("[data-testid=install]");
      if (b && !b.disabled) window.__job.live.push(m.textContent);
    }).observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true });
  });
}
// Click `what`, then wait for the job's outcome card (the n-th) and give it.
async function outcomeOf(click) {
  const n = await outcomes.count();
  await watchJob();
  await click();
  await page.waitForFunction((k) => {
    const all = document.querySelectorAll("[data-testid=outcome]");
    return all.length > k && all[k].dataset.state;
  }, n, { timeout: 180000 });
  return outcomes.nth(n);
}
async function openApp() {
  await page.goto(appUrl);
  await page.locator("[data-testid=app-name]").waitFor({ timeout: 20000 });
}
async function openInstalled() {
  await page.goto(base + "#/");
  await page.goto(base + "#/installed");
  await page.locator("h1", { hasText: "Installed apps" }).waitFor({ timeout: 20000 });
  await page.locator("[data-testid=installed-app], .empty").first().waitFor({ timeout: 20000 });
}
async function install(hostPort, fresh) {
  await openApp();
  const field = page.locator("[data-testid=install-ports] [data-testid=port-input]");
  await field.waitFor({ timeout: 20000 });
  await field.fill(String(hostPort));
  if (fresh) await page.locator("[data-testid=start-fresh]").check();
  return outcomeOf(() => page.locator("[data-testid=install]").click());
}
async function uninstall(purge) {
  await openInstalled();
  const card = page.locator("[data-testid=installed-app]", { hasText: "Porty" });
  await card.locator("[data-testid=uninstall]").click();
  const dialog = card.locator("[data-testid=uninstall-dialog]");
  await dialog.waitFor({ timeout: 5000 });
  if (purge) await dialog.locator("[data-testid=uninstall-purge]").check();
  return outcomeOf(() => dialog.locator("[data-testid=uninstall-confirm]").click());
}

try {
  step = "the token is taken from the fragment";
  await page.goto(url);
  await page.waitForSelector("[data-testid=app-card]", { timeout: 20000 });

  step = "the app page offers the port, prefilled with the manifest's";
  await openApp();
  const field = page.locator("[data-testid=install-ports] [data-testid=port-input]");
  await field.waitFor({ timeout: 20000 });
  expect(await field.inputValue() === manifestPort, "port field holds " + await field.inputValue());
  expect(await page.locator("[data-testid=reuse-data]").count() === 0, "kept data offered before any install");
  step = "the app's screenshot is shown, its caption the alt text";
  const shot = page.locator("[data-testid=screenshots] img[data-testid=screenshot]");
  await shot.waitFor({ timeout: 20000 });
  expect(await shot.getAttribute("alt") === "Porty's page", "alt text " + await shot.getAttribute("alt"));
  await page.waitForFunction(() => { const i = document.querySelector("img[data-testid=screenshot]"); return i && i.complete; }, null, { timeout: 20000 });
  expect(await shot.evaluate((i) => i.naturalWidth) === 1, "the screenshot did not load");

  step = "install on another port: the outcome with its link stays after the re-render";
  let o = await install(port, false);
  expect(await o.getAttribute("data-state") === "done", "install failed: " + await o.innerText());
  const href = await o.locator("[data-testid=outcome-open]").getAttribute("href");
  expect(href === "http://127.0.0.1:" + port + "/", "the outcome links " + href);
  expect((await o.locator("[data-testid=outcome-open]").innerText()) === "Open " + href, "the link reads " + await o.locator("[data-testid=outcome-open]").innerText());
  await page.locator("text=Installed: manage it").waitFor({ timeout: 20000 });
  expect(await page.locator("[data-testid=install]").count() === 0, "an Install button after the install");
  expect(await o.isVisible(), "the outcome went with the re-render");
  const job = await page.evaluate(() => window.__job);
  expect(job.texts.length > 0, "no progress was seen");
  expect(job.live.length === 0, "the Install button was live while the job ran: " + job.live.join(" | "));
  const res = await fetch(href);
  expect(res.status === 200, "the app does not answer on the chosen port: " + res.status);
  mkdirSync(shots, { recursive: true });
  await page.screenshot({ path: shots + "/install-outcome.png", fullPage: true });

  step = "uninstall asks first, saying what data there is";
  await openInstalled();
  const card = page.locator("[data-testid=installed-app]", { hasText: "Porty" });
  await card.locator("[data-testid=uninstall]").click();
  const dialog = card.locator("[data-testid=uninstall-dialog]");
  await dialog.waitFor({ timeout: 5000 });
  const said = await dialog.locator("[data-testid=uninstall-data]").innerText();
  expect(said.includes("volumes data (10 B)") && said.includes("porty-key"), "the dialog says " + said);
  expect(await dialog.locator("[data-testid=uninstall-keep]").isChecked(), "keeping the data is not the default");
  await page.screenshot({ path: shots + "/uninstall-dialog.png", fullPage: true });
  await dialog.locator("[data-testid=uninstall-cancel]").click();
  expect(await dialog.isHidden(), "Cancel left the dialog open");
  expect(await card.count() === 1, "Cancel uninstalled");

  step = "uninstall keeping the data: the outcome says so; the data is listed";
  o = await uninstall(false);
  expect(await o.getAttribute("data-state") === "done", "uninstall failed: " + await o.innerText());
  expect((await messageOf(o).innerText()).includes("its data is kept"), "the outcome says " + await messageOf(o).innerText());
  const kept = page.locator("[data-testid=kept-data] [data-testid=kept-data-row]");
  await kept.first().waitFor({ timeout: 20000 });
  expect(await kept.first().getAttribute("data-ref") === app, "kept data of " + await kept.first().getAttribute("data-ref"));
  expect((await kept.first().innerText()).includes("porty-key"), "the row says " + await kept.first().innerText());
  await page.screenshot({ path: shots + "/kept-data.png", fullPage: true });

  step = "the app page says a reinstall reuses the data; start fresh deletes it first";
  await openApp();
  const reuse = page.locator("[data-testid=reuse-data]");
  await reuse.waitFor({ timeout: 20000 });
  expect((await reuse.innerText()).includes("porty-key") && (await reuse.innerText()).includes("reuses it"), "the offer says " + await reuse.innerText());
  o = await install(port, true);
  expect(await o.getAttribute("data-state") === "done", "fresh install failed: " + await o.innerText());
  const fresh = await page.evaluate(() => window.__job.texts);
  expect(fresh.some((t) => t.includes("deleted the data kept from the earlier install")), "the kept data was not deleted first: " + fresh.join(" | "));

  step = "kept data deleted from the Installed page";
  o = await uninstall(false);
  expect(await o.getAttribute("data-state") === "done", "uninstall failed: " + await o.innerText());
  await kept.first().waitFor({ timeout: 20000 });
  await kept.first().locator("[data-testid=delete-data]").click();
  await kept.first().locator("[data-testid=delete-data-confirm]").click();
  await page.waitForFunction(() => !document.querySelector("[data-testid=kept-data]"), null, { timeout: 20000 });
  await openApp();
  expect(await page.locator("[data-testid=reuse-data]").count() === 0, "deleted data still offered");

  step = "a port conflict: the reason stays, naming the port field; Install is offered again";
  o = await install(busy, false);
  expect(await o.getAttribute("data-state") === "failed", "the install on a busy port did not fail: " + await o.innerText());
  const reason = await o.locator("[data-testid=outcome-reason]").innerText();
  expect(reason.includes("host port " + busy + " is in use") && reason.includes("port field"), "the reason reads " + reason);
  await page.locator("[data-testid=install]").waitFor({ timeout: 20000 });
  expect(await page.locator("[data-testid=install]").isEnabled(), "Install is not offered after the failure");
  expect(await o.isVisible(), "the failure went with the re-render");
  await page.screenshot({ path: shots + "/install-conflict.png", fullPage: true });

  step = "uninstall deleting the data";
  o = await install(port, false);
  expect(await o.getAttribute("data-state") === "done", "install failed: " + await o.innerText());
  o = await uninstall(true);
  expect(await o.getAttribute("data-state") === "done", "purge failed: " + await o.innerText());
  expect((await messageOf(o).innerText()).includes("data deleted"), "the outcome says " + await messageOf(o).innerText());
  await page.locator(".empty", { hasText: "Nothing installed yet" }).waitFor({ timeout: 20000 });
  expect(await page.locator("[data-testid=kept-data]").count() === 0, "data listed after a purge");

  step = "outcomes stay until dismissed";
  const n = await outcomes.count();
  expect(n === 7, "outcomes on screen: " + n);
  for (let i = 0; i < n; i++) await outcomes.first().locator("[data-testid=dismiss-outcome]").click();
  expect(await outcomes.count() === 0, "an outcome stayed after Dismiss");
  expect(dialogs.length === 0, "a browser dialog was opened: " + dialogs.join(" | "));
  expect(pageErrors.length === 0, "page errors: " + pageErrors.join(" | "));
  console.log("install browser test passed");
  await browser.close();
  process.exit(0);
} catch (e) {
  const file = shots + "/failure-install-" + step.replace(/[^a-z0-9]+/gi, "-") + ".png";
  try { mkdirSync(shots, { recursive: true }); await page.screenshot({ path: file, fullPage: true }); } catch {}
  console.error("install browser test failed: " + e.message + " (screenshot: " + file + ")" + (pageErrors.length ? "; page errors: " + pageErrors.join(" | ") : ""));
  await browser.close();
  process.exit(1);
}
