// The marketplace journey, in Debian's headless Chromium (playwright-core), one browser
// session as a person would go: install an app and keep the outcome; update it to 1.1.0
// after reading the release notes and the permission diff; an update to 1.2.0 fails its
// health check and the reason stays; roll back to 1.0.0 after the data warning; uninstall
// choosing to keep the data, then delete the kept data; block the publisher and find the
// install refused with no way around it. Run by tests/node/journey.rs with ATOLL_URL (the
// node, token in the fragment), ATOLL_SHOTS, JOURNEY_APP (the app's ref), JOURNEY_PORT (its
// web port), JOURNEY_BIN + JOURNEY_HOME (the atoll CLI and the home holding the publisher's
// key `pub`) and JOURNEY_V2 / JOURNEY_V3 (the app dirs of 1.1.0 and 1.2.0, published here
// when the journey gets there).
import { mkdirSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { launchChromium } from "./chromium.mjs";

const env = process.env;
const url = env.ATOLL_URL, app = env.JOURNEY_APP, port = env.JOURNEY_PORT;
const shots = env.ATOLL_SHOTS || ".";
for (const k of ["ATOLL_URL", "JOURNEY_APP", "JOURNEY_PORT", "JOURNEY_BIN", "JOURNEY_HOME", "JOURNEY_V2", "JOURNEY_V3"]) {
  if (!env[k]) { console.error(k + " must be set"); process.exit(2); }
}
const base = url.split("#")[0];
const appPage = base + "#/app/" + app.split("/").map(encodeURIComponent).join("/");
const did = app.slice(0, app.lastIndexOf("/"));
const browser = await launchChromium();
const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
const pageErrors = [];
page.on("pageerror", (e) => pageErrors.push(String(e)));
let step = "start";
function expect(cond, what) { if (!cond) throw new Error(step + ": " + what); }
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Publish an app dir with the CLI through the node, then wait until the node's catalog has it.
async function publish(dir, version) {
  execFileSync(env.JOURNEY_BIN, ["--home", env.JOURNEY_HOME, "--node", base.replace(/\/ui\/$/, ""),
    "app", "publish", dir, "--key", "pub"], { stdio: ["ignore", "ignore", "inherit"] });
  for (let i = 0; i < 300; i++) {
    const r = await fetch(base.replace(/\/ui\/$/, "") + "/api/v1/apps/" + app);
    // The head moved and its manifest is fetched (release notes and the diff come from it).
    if (r.ok && ((await r.json()).manifest || {}).version === version) return;
    await sleep(200);
  }
  throw new Error(step + ": " + version + " never reached the catalog");
}
// The newest kept outcome once its job has ended (it is moved out of the view).
async function outcome() {
  const o = page.locator("[data-testid=outcome]").last();
  await o.waitFor({ timeout: 240000 });
  return o;
}
const installedCard = () => page.locator("[data-testid=installed-app]").filter({ hasText: "Journey Notes" });
// Go to a page and render it afresh (going to the hash the page is already on changes nothing).
async function visit(hash) {
  await page.goto(base + hash);
  await page.evaluate(() => route());
}
async function shot(name) { await page.screenshot({ path: shots + "/journey-" + name + ".png", fullPage: true }); }

try {
  mkdirSync(shots, { recursive: true });
  await page.goto(url);
  await page.waitForSelector("[data-testid=app-card]", { timeout: 30000 });

  step = "install: the outcome with the app's link stays after the page re-renders";
  await visit(appPage.slice(base.length));
  await page.locator("[data-testid=install]").click();
  let o = await outcome();
  await sleep(2000); // the old UI re-rendered 0.6 s after the end and lost it
  expect(await o.isVisible(), "the outcome went away");
  const open = o.locator("[data-testid=outcome-open]");
  expect((await open.getAttribute("href")).includes(":" + port), "no link to the app's port: " + await o.innerText());
  expect(await page.locator("main [data-testid=install]").count() === 0, "the Install button is still offered");
  const served = await fetch("http://127.0.0.1:" + port + "/");
  expect(served.ok, "the app does not serve: HTTP " + served.status);
  await shot("installed-outcome");
  await o.locator("[data-testid=dismiss-outcome]").click();

  step = "1.1.0 is published: installed and available versions, notes and diff before the update";
  await publish(env.JOURNEY_V2, "1.1.0");
  await visit("#/installed");
  await installedCard().waitFor({ timeout: 20000 });
  const line = await installedCard().locator("[data-testid=installed-version]").innerText();
  expect(line.includes("1.0.0") && line.includes("1.1.0"), "version line: " + line);
  await installedCard().locator("[data-testid=update]").click();
  let dialog = page.locator("[data-testid=update-dialog]");
  await dialog.waitFor({ timeout: 10000 });
  const notes = await dialog.locator("[data-testid=release-notes]").innerText();
  expect(notes.includes("Keeps your notes longer"), "release notes: " + notes);
  const diff = await dialog.locator("[data-testid=permission-diff]").innerText();
  expect(diff.includes("NET_BIND_SERVICE") && diff.includes("memory"), "the diff does not show the new capability and limit: " + diff);
  await shot("update-dialog");
  await dialog.locator("[data-testid=confirm-update]").click();
  o = await outcome();
  expect((await o.getAttribute("data-state")) === "done", "the update failed: " + await o.innerText());
  await o.locator("[data-testid=dismiss-outcome]").click();

  step = "1.2.0 fails its health check: the rollback's reason stays, no plain update offered";
  await publish(env.JOURNEY_V3, "1.2.0");
  await visit("#/installed");
  await installedCard().locator("[data-testid=update]").click();
  dialog = page.locator("[data-testid=update-dialog]");
  await dialog.waitFor({ timeout: 10000 });
  await dialog.locator("[data-testid=confirm-update]").click();
  o = await outcome();
  await sleep(2000);
  const reason = await o.locator("[data-testid=outcome-reason]").innerText();
  expect(reason.includes("/broken-health"), "the outcome does not say why: " + reason);
  const failed = await installedCard().locator("[data-testid=failed-update]").innerText();
  expect(failed.includes("1.2.0") && failed.includes("/broken-health") && failed.includes("1.1.0"), "failed update: " + failed);
  expect(await installedCard().locator("[data-testid=update]").count() === 0, "1.2.0 is offered again as a plain update");
  await shot("update-failed");
  await o.locator("[data-testid=dismiss-outcome]").click();

  step = "roll back to 1.0.0 from the versions table, after the data warning";
  await visit(appPage.slice(base.length));
  const row = page.locator("[data-testid=version-row][data-version='1.0.0']").first();
  await row.waitFor({ timeout: 20000 });
  await row.locator("[data-testid=rollback-version]").click();
  dialog = page.locator("[data-testid=rollback-dialog]");
  await dialog.waitFor({ timeout: 10000 });
  expect((await dialog.locator("[data-testid=data-warning]").innerText()).includes("data may not go back"), "no data warning");
  await shot("rollback-dialog");
  await dialog.locator("[data-testid=confirm-rollback]").click();
  o = await outcome();
  expect((await o.getAttribute("data-state")) === "done", "the rollback failed: " + await o.innerText());
  await o.locator("[data-testid=dismiss-outcome]").click();
  await visit("#/installed");
  expect((await installedCard().locator("[data-testid=installed-version]").innerText()).includes("1.0.0"), "1.0.0 is not what runs");

  step = "uninstall asks first, with the data choice; the kept data is listed and can be deleted";
  await installedCard().locator("[data-testid=uninstall]").click();
  dialog = page.locator("[data-testid=uninstall-dialog]");
  await dialog.waitFor({ timeout: 10000 });
  const words = await dialog.locator("[data-testid=uninstall-data]").innerText();
  expect(words.includes("notes"), "the dialog does not say what data there is: " + words);
  await shot("uninstall-dialog");
  await dialog.locator("[data-testid=uninstall-keep]").check();
  await dialog.locator("[data-testid=uninstall-confirm]").click();
  o = await outcome();
  expect((await o.getAttribute("data-state")) === "done", "the uninstall failed: " + await o.innerText());
  await visit("#/installed");
  const kept = page.locator(`[data-testid=kept-data-row][data-ref="${app}"]`);
  await kept.waitFor({ timeout: 20000 });
  await kept.locator("[data-testid=delete-data]").click();
  await page.locator("[data-testid=delete-data-confirm]").click();
  await page.waitForFunction(() => !document.querySelector("[data-testid=kept-data-row]"), null, { timeout: 30000 });

  step = "block the publisher: the install is refused, with no way around it";
  await visit("#/trust");
  await page.locator("[data-testid=trust-did]").fill(did);
  await page.locator("[data-testid=trust-block]").click();
  await page.locator("[data-testid=trust-row][data-blocked=true]").first().waitFor({ timeout: 20000 });
  await visit(appPage.slice(base.length));
  const guard = page.locator("[data-testid=install-guard]");
  await guard.waitFor({ timeout: 20000 });
  expect(await page.locator("[data-testid=install]").isDisabled(), "the Install button is live");
  expect((await guard.innerText()).includes("blocked"), "the refusal does not say blocked: " + await guard.innerText());
  expect(await page.locator("[data-testid=confirm-override]").count() === 0, "an override is offered");
  await shot("blocked");
  expect(pageErrors.length === 0, "page errors: " + pageErrors.join("; "));
} catch (e) {
  console.error("FAIL", e.message.startsWith(step) ? e.message : step + ": " + e.message);
  try { await shot("failure"); } catch { /* best effort */ }
  await browser.close();
  process.exit(1);
}
await browser.close();
console.log("journey browser test passed");
