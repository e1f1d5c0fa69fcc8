// Browser test of an installed app's backups, in Debian's headless Chromium
// (playwright-core). Run by tests/node/backup.rs with ATOLL_URL (the node, token in the
// fragment), ATOLL_SHOTS and BACKUP_APP (ref of a running app with one backup). The
// Installed page's backups panel lists it; "back up now" adds one; restore first shows
// what it replaces, and replacing the data of the running app fails saying to stop it;
// export downloads a tar; delete removes the new backup.
import { mkdirSync } from "node:fs";
import { launchChromium } from "./chromium.mjs";

const url = process.env.ATOLL_URL;
const shots = process.env.ATOLL_SHOTS || ".";
const app = process.env.BACKUP_APP;
if (!url || !app) {
  console.error("ATOLL_URL and BACKUP_APP must be set");
  process.exit(2);
}
const base = url.split("#")[0];
const browser = await launchChromium();
const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 900 } });
const page = await context.newPage();
const pageErrors = [];
page.on("pageerror", (e) => pageErrors.push(String(e)));
page.on("dialog", (d) => d.accept());
let step = "start";
function expect(cond, what) { if (!cond) throw new Error(step + ": " + what); }
const panel = () => page.locator("[data-testid=backup-panel]");
async function openPanel() {
  await page.goto(base + "#/installed");
  await page.locator("[data-testid=installed-app]").first().waitFor({ timeout: 20000 });
  // The same hash does not re-render: the panel may still be open.
  if (await panel().isHidden()) await page.locator("[data-testid=backups]").first().click();
  await panel().locator("[data-testid=backup-row], p.muted").first().waitFor({ timeout: 20000 });
}

try {
  step = "the token is taken from the fragment";
  await page.goto(url);
  await page.waitForSelector("[data-testid=app-card]", { timeout: 20000 });

  step = "the panel lists the app's backup";
  await openPanel();
  const before = await panel().locator("[data-testid=backup-row]").count();
  expect(before >= 1, "no backup listed");

  step = "back up now";
  await panel().locator("[data-testid=backup-now]").click();
  const msg = page.locator("[data-testid=progress-message][data-state=done]");
  await msg.waitFor({ timeout: 180000 });
  expect((await msg.innerText()).includes("backup "), "the outcome does not name the backup: " + await msg.innerText());
  await page.waitForTimeout(1000);
  await openPanel();
  const after = await panel().locator("[data-testid=backup-row]").count();
  expect(after === before + 1, "rows " + before + " -> " + after);

  step = "restore shows what it replaces; onto the running app it is refused";
  await panel().locator("[data-testid=restore]").first().click();
  const confirmBox = panel().locator("[data-testid=restore-confirm]");
  await confirmBox.waitFor({ timeout: 20000 });
  const text = await confirmBox.innerText();
  expect(text.includes("It replaces the data there now") && text.includes("files"), "no account of what it replaces: " + text);
  mkdirSync(shots, { recursive: true });
  await page.screenshot({ path: shots + "/backups-restore-confirm.png", fullPage: true });
  await confirmBox.locator("[data-testid=restore-go]").click();
  const failed = page.locator("[data-testid=progress-message]", { hasText: "Failed" });
  await failed.waitFor({ timeout: 60000 });
  expect((await failed.innerText()).includes("stop it first"), "the refusal does not say to stop it: " + await failed.innerText());

  step = "export downloads one tar";
  await openPanel();
  const [download] = await Promise.all([
    page.waitForEvent("download", { timeout: 60000 }),
    panel().locator("[data-testid=export]").first().click(),
  ]);
  expect(download.suggestedFilename().endsWith(".tar"), "downloaded " + download.suggestedFilename());
  const path = await download.path();
  expect(!!path, "the download has no file");

  step = "delete the new backup";
  await panel().locator("[data-testid=delete-backup]").first().click();
  await page.waitForFunction((n) => document.querySelectorAll("[data-testid=backup-row]").length === n, before, { timeout: 20000 });
  expect(pageErrors.length === 0, "page errors: " + pageErrors.join(" | "));
  console.log("backups browser test passed");
  await browser.close();
  process.exit(0);
} catch (e) {
  console.error(String(e));
  try { mkdirSync(shots, { recursive: true }); await page.screenshot({ path: shots + "/backups-failed.png", fullPage: true }); } catch {}
  await browser.close();
  process.exit(1);
}
