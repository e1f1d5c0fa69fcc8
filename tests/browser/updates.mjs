// Browser test of updates people control, in Debian's headless Chromium (playwright-core).
// Run by tests/node/updates.rs with ATOLL_URL (the node, token in the fragment), ATOLL_SHOTS,
// UPDATES_APP (the app's ref) and UPDATES_PHASE:
// - "update": 1.0.0 installed, 1.1.0 published with release notes and a new capability. The
//   card says "installed v1.0.0" and "v1.1.0 available"; the Installed page says both and has
//   the auto-update select at the policy set earlier (notify); the update button opens a
//   dialog with the notes and the permission diff (cancelled); "Update all" runs the update.
// - "rollback": 1.2.0's update failed and was rolled back to 1.1.0. The Installed page says
//   "update to 1.2.0 failed: … (rolled back to 1.1.0)" with a retry button and no plain
//   update; the app page's versions table offers "roll back to this version" on 1.0.0,
//   whose dialog warns that the data may not go back; its confirm rolls back.
import { mkdirSync } from "node:fs";
import { launchChromium } from "./chromium.mjs";

const url = process.env.ATOLL_URL;
const shots = process.env.ATOLL_SHOTS || ".";
const app = process.env.UPDATES_APP;
const phase = process.env.UPDATES_PHASE;
if (!url || !app || !phase) {
  console.error("ATOLL_URL, UPDATES_APP and UPDATES_PHASE must be set");
  process.exit(2);
}
const base = url.split("#")[0];
const browser = await launchChromium();
const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
const pageErrors = [];
page.on("pageerror", (e) => pageErrors.push(String(e)));
let step = "start";
function expect(cond, what) { if (!cond) throw new Error(step + ": " + what); }
const card = () => page.locator("[data-testid=installed-app]").filter({ hasText: "Tuned" });
// Wait for the job just started to end: its card moves out of the page into the kept
// outcomes (#notices); its last message, the outcome then dismissed.
async function jobEnd() {
  const o = page.locator("#notices [data-testid=outcome]").last();
  await o.waitFor({ timeout: 240000 });
  const text = await o.locator("[data-testid=progress-message], [data-testid=outcome-message]").first().innerText();
  await o.locator("[data-testid=dismiss-outcome]").click();
  return text;
}

try {
  mkdirSync(shots, { recursive: true });
  await page.goto(url);
  await page.waitForSelector("[data-testid=app-card]", { timeout: 20000 });
  if (phase === "update") {
    step = "the card shows the installed and the available version";
    const c = page.locator("[data-testid=app-card]").filter({ hasText: "Tuned" });
    expect((await c.locator("[data-testid=card-installed-version]").innerText()) === "installed v1.0.0",
      "installed badge: " + await c.innerText());
    expect((await c.locator("[data-testid=card-available-version]").innerText()) === "v1.1.0 available",
      "available badge: " + await c.innerText());

    step = "the Installed page shows both, and the kept auto-update policy";
    await page.goto(base + "#/installed");
    await card().waitFor({ timeout: 20000 });
    const line = await card().locator("[data-testid=installed-version]").innerText();
    expect(line.includes("installed 1.0.0") && line.includes("1.1.0 available"), "version line: " + line);
    expect(await card().locator("[data-testid=auto-update]").inputValue() === "notify", "the select is not at notify");
    expect(await page.locator("[data-testid=update-all]").count() === 1, "no Update all button");

    step = "the update dialog shows the release notes and the permission diff";
    await card().locator("[data-testid=update]").click();
    const dialog = card().locator("[data-testid=update-dialog]");
    await dialog.waitFor({ timeout: 10000 });
    const notes = await dialog.locator("[data-testid=release-notes]").innerText();
    expect(notes.includes("faster pages.") && notes.includes("Now binds low ports."), "notes: " + notes);
    const diff = await dialog.locator("[data-testid=permission-diff]").innerText();
    expect(diff.includes("+ capability NET_BIND_SERVICE (web)"), "diff: " + diff);
    expect(diff.includes("~ web memory"), "diff: " + diff);
    await page.screenshot({ path: shots + "/update-dialog.png", fullPage: true });

    step = "cancel closes the dialog; Update all updates it";
    await dialog.locator("[data-testid=cancel-update]").click();
    expect(await card().locator("[data-testid=update-dialog]").count() === 0, "the dialog stayed");
    await page.locator("[data-testid=update-all]").click();
    const end = await jobEnd();
    expect(end.includes("updated 1 app(s)") && end.includes("updated from 1.0.0 to 1.1.0"), "the job said: " + end);
  } else if (phase === "rollback") {
    step = "the card shows the installed and the available version";
    const c = page.locator("[data-testid=app-card]").filter({ hasText: "Tuned" });
    expect((await c.locator("[data-testid=card-installed-version]").innerText()) === "installed v1.1.0",
      "installed badge: " + await c.innerText());

    step = "the failed update is kept with its reason, not offered as a plain update";
    await page.goto(base + "#/installed");
    await card().waitFor({ timeout: 20000 });
    const failed = await card().locator("[data-testid=failed-update]").innerText();
    expect(failed.includes("update to 1.2.0 failed:") && failed.includes("/broken-health") &&
      failed.includes("(rolled back to 1.1.0)"), "failed-update: " + failed);
    expect(await card().locator("[data-testid=update]").count() === 0, "a plain update button is offered");
    expect(await card().locator("[data-testid=retry-update]").count() === 1, "no retry button");
    await page.screenshot({ path: shots + "/update-failed.png", fullPage: true });

    step = "the app page's versions table rolls back to 1.0.0 after the data warning";
    await page.goto(base + "#/app/" + app.split("/").map(encodeURIComponent).join("/"));
    const row = page.locator("[data-testid=version-row][data-version='1.0.0']").first();
    await row.waitFor({ timeout: 20000 });
    expect((await page.locator("[data-testid=app-versions-line]").innerText()).includes("installed 1.1.0 · latest 1.2.0"),
      "versions line: " + await page.locator("[data-testid=app-versions-line]").innerText());
    expect(await page.locator("[data-testid=version-row][data-version='1.1.0'] [data-testid=running-version]").count() >= 1,
      "1.1.0 is not marked installed");
    await row.locator("[data-testid=rollback-version]").click();
    const dialog = page.locator("[data-testid=rollback-dialog]");
    await dialog.waitFor({ timeout: 10000 });
    const warning = await dialog.locator("[data-testid=data-warning]").innerText();
    expect(warning.includes("data may not go back"), "warning: " + warning);
    await page.screenshot({ path: shots + "/rollback-dialog.png", fullPage: true });
    await dialog.locator("[data-testid=confirm-rollback]").click();
    const end = await jobEnd();
    expect(end.includes("updated from 1.1.0 to 1.0.0"), "the job said: " + end);
  } else {
    throw new Error("unknown UPDATES_PHASE " + phase);
  }
  expect(pageErrors.length === 0, "page errors: " + pageErrors.join("; "));
} catch (e) {
  console.error("FAIL", e.message);
  try { await page.screenshot({ path: shots + "/updates-" + phase + "-failure.png", fullPage: true }); } catch { /* best effort */ }
  await browser.close();
  process.exit(1);
}
await browser.close();
console.log("updates browser test (" + phase + ") passed");
