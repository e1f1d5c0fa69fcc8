// Browser test of the install/update guard in Debian's headless Chromium (playwright-core).
// Run by tests/node/guard.rs with ATOLL_URL (the node, token in the fragment), ATOLL_SHOTS,
// GUARD_YANKED (ref of a yanked app), GUARD_EQUIVOCATED (ref of an equivocated app) and
// GUARD_OVERRIDABLE (ref of a stale app of a publisher below the trust threshold).
// GUARD_PHASE=install (default): badges show before the click, a refusal that cannot be
// overridden disables Install and says why, an overridable one asks for an explicit
// confirmation with a note, then installs. GUARD_PHASE=update (the installed app's head
// is stale now): the Installed page shows the badge and "update anyway…", whose
// confirmation lists the reason and can be cancelled. Exits non-zero on the first failed
// expectation, with a screenshot.
import { mkdirSync } from "node:fs";
import { launchChromium } from "./chromium.mjs";

const url = process.env.ATOLL_URL;
const shots = process.env.ATOLL_SHOTS || ".";
const yanked = process.env.GUARD_YANKED;
const equivocated = process.env.GUARD_EQUIVOCATED;
const overridable = process.env.GUARD_OVERRIDABLE;
const phase = process.env.GUARD_PHASE || "install";
if (!url || !yanked || !equivocated || !overridable) {
  console.error("ATOLL_URL, GUARD_YANKED, GUARD_EQUIVOCATED and GUARD_OVERRIDABLE must be set");
  process.exit(2);
}
const base = url.split("#")[0];
const appUrl = (ref) => base + "#/app/" + ref.split("/").map(encodeURIComponent).join("/");

const browser = await launchChromium();
const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
const dialogs = [];
page.on("dialog", (d) => { dialogs.push(d.message()); d.dismiss(); });
const pageErrors = [];
page.on("pageerror", (e) => pageErrors.push(String(e)));
let step = "start";
function expect(cond, what) { if (!cond) throw new Error(step + ": " + what); }
const badgesOf = (loc) => loc.locator("[data-testid=badge]").evaluateAll((els) => els.map((e) => e.dataset.badge));

async function updatePhase() {
  step = "the installed app's stale update is badged and needs an override";
  await page.goto(base + "#/installed");
  const card = page.locator("[data-testid=installed-app]", { hasText: "Guard Overridable" });
  await card.waitFor({ timeout: 20000 });
  expect((await badgesOf(card)).includes("stale"), "no stale badge on the Installed page");
  const update = card.locator("[data-testid=update]");
  expect((await update.innerText()).includes("anyway"), "the update button does not say anyway: " + (await update.innerText()));
  await update.click();
  const dialog = card.locator("[data-testid=override-dialog]");
  expect(await dialog.isVisible(), "no confirmation after the click");
  const reasons = await dialog.locator("[data-reason]").evaluateAll((els) => els.map((e) => e.dataset.reason));
  expect(reasons.join(",") === "stale", "the confirmation lists " + reasons);
  await dialog.locator("button:text-is('Cancel')").click();
  expect(!(await dialog.isVisible()), "Cancel did not close the confirmation");
  expect(await page.locator("[data-testid=progress-message]").count() === 0, "Cancel started an update");
}

try {
  if (phase === "update") {
    await updatePhase();
    expect(pageErrors.length === 0, "page errors: " + pageErrors.join(" | "));
    console.log("guard browser test (update) passed");
    await browser.close();
    process.exit(0);
  }
  step = "badges on the marketplace cards";
  await page.goto(url);
  await page.waitForSelector("[data-testid=app-card]", { timeout: 20000 });
  const card = (name) => page.locator("[data-testid=app-card]", { hasText: name });
  await page.waitForFunction(() => document.querySelectorAll("[data-testid=app-card]").length >= 3, null, { timeout: 20000 });
  const yb = await badgesOf(card("Guard Yanked"));
  expect(yb.includes("yanked"), "the yanked app has no yanked badge: " + yb);
  const eb = await badgesOf(card("Guard Equivocal"));
  expect(eb.includes("equivocated"), "the equivocated app has no equivocated badge: " + eb);
  const ob = await badgesOf(card("Guard Overridable"));
  expect(ob.includes("stale") && ob.includes("below-threshold"), "the stale, untrusted app lacks its badges: " + ob);

  step = "a yanked app cannot be installed, and the page says why";
  await page.goto(appUrl(yanked));
  await page.waitForSelector("[data-testid=install-guard]");
  expect(await page.locator("[data-testid=install]").isDisabled(), "Install is not disabled for a yanked app");
  const why = await page.locator("[data-testid=guard-reasons] li").allInnerTexts();
  expect(why.length === 1 && why[0].includes("yanked") && why[0].includes("no override"), "no yanked reason: " + why);
  expect((await badgesOf(page.locator(".detail-head"))).includes("yanked"), "no yanked badge on the app page");
  expect(await page.locator("[data-testid=override-dialog]").count() === 0, "an override is offered for a yanked app");

  step = "an equivocated app cannot be installed";
  await page.goto(appUrl(equivocated));
  await page.waitForSelector("[data-testid=install-guard]");
  expect(await page.locator("[data-testid=install]").isDisabled(), "Install is not disabled for an equivocated app");
  expect((await page.locator("[data-testid=guard-reasons]").innerText()).includes("equivocation"), "no equivocation reason");

  step = "a stale app below the threshold asks for an explicit override";
  await page.goto(appUrl(overridable));
  await page.waitForSelector("[data-testid=install-guard]");
  const install = page.locator("[data-testid=install]");
  expect(!(await install.isDisabled()), "Install anyway is disabled");
  expect((await install.innerText()).includes("anyway"), "the button does not say anyway: " + (await install.innerText()));
  expect(!(await page.locator("[data-testid=override-dialog]").isVisible()), "the confirmation shows before the click");
  await install.click();
  const dialog = page.locator("[data-testid=override-dialog]");
  expect(await dialog.isVisible(), "no confirmation after the click");
  const reasons = await dialog.locator("[data-reason]").evaluateAll((els) => els.map((e) => e.dataset.reason));
  expect(reasons.join(",") === "stale,below-threshold", "the confirmation lists " + reasons);
  expect((await dialog.innerText()).includes("audit log"), "the confirmation does not mention the audit log");
  await page.fill("[data-testid=override-note]", "browser test: <b>override</b>");
  await page.click("[data-testid=confirm-override]");
  await page.waitForFunction(() => {
    const m = document.querySelector("[data-testid=progress-message]");
    return m && (m.dataset.state === "done" || m.textContent.startsWith("Failed"));
  }, null, { timeout: 180000 });
  const msg = page.locator("[data-testid=progress-message]");
  expect((await msg.getAttribute("data-state")) === "done", "the overridden install did not finish: " + (await msg.innerText()));

  expect(dialogs.length === 0, "a dialog was opened: " + dialogs.join(" | "));
  expect(pageErrors.length === 0, "page errors: " + pageErrors.join(" | "));
  console.log("guard browser test passed");
} catch (e) {
  const file = shots + "/failure-guard-" + step.replace(/[^a-z0-9]+/gi, "-") + ".png";
  try { mkdirSync(shots, { recursive: true }); await page.screenshot({ path: file, fullPage: true }); } catch {}
  console.error("guard browser test failed: " + e.message + " (screenshot: " + file + ")");
  await browser.close();
  process.exit(1);
}
await browser.close();
