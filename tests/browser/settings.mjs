// Browser test of the install dialog's settings and the credentials shown once, in Debian's
// headless Chromium (playwright-core). Run by tests/node/settings.rs with ATOLL_URL (the
// node, token in the fragment), ATOLL_SHOTS, SETTINGS_APP (ref of an app with a required
// setting, a defaulted one and a `show` secret) and SETTINGS_PORT (where it serves its
// rendered config file). The fields show (default prefilled, required marked); Install with
// the required one empty is stopped naming it; after the install the credential is on
// screen, survives the page's re-render, matches what the app got, and goes on Dismiss.
import { mkdirSync } from "node:fs";
import { launchChromium } from "./chromium.mjs";

const url = process.env.ATOLL_URL;
const shots = process.env.ATOLL_SHOTS || ".";
const app = process.env.SETTINGS_APP;
const port = process.env.SETTINGS_PORT;
if (!url || !app || !port) {
  console.error("ATOLL_URL, SETTINGS_APP and SETTINGS_PORT must be set");
  process.exit(2);
}
const base = url.split("#")[0];
const browser = await launchChromium();
const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
const pageErrors = [];
page.on("pageerror", (e) => pageErrors.push(String(e)));
let step = "start";
function expect(cond, what) { if (!cond) throw new Error(step + ": " + what); }

try {
  step = "the token is taken from the fragment";
  await page.goto(url);
  await page.waitForSelector("[data-testid=app-card]", { timeout: 20000 });

  step = "the install dialog shows the settings";
  await page.goto(base + "#/app/" + app.split("/").map(encodeURIComponent).join("/"));
  const form = page.locator("[data-testid=install-settings]");
  await form.waitFor({ timeout: 20000 });
  const user = form.locator("#setting-admin-user");
  const greeting = form.locator("#setting-greeting");
  expect(await user.inputValue() === "", "the required field is not empty");
  expect(await user.evaluate((e) => e.required), "the required field is not marked required");
  expect((await form.innerText()).includes("(required)"), "no required mark");
  expect(await greeting.inputValue() === "hello", "the default is not prefilled: " + await greeting.inputValue());
  expect((await form.innerText()).includes("The admin account's name"), "no description");
  expect(!(await page.locator("main").innerText()).includes("null"), "a stray null on the page");
  mkdirSync(shots, { recursive: true });
  await page.screenshot({ path: shots + "/settings-dialog.png", fullPage: true });

  step = "a required setting left empty stops the install";
  await page.locator("[data-testid=install]").click();
  const err = page.locator("[data-testid=settings-error]");
  await err.waitFor({ timeout: 5000 });
  expect((await err.innerText()).includes("admin-user"), "the error does not name the setting");
  expect(await page.locator("[data-testid=progress-message]").count() === 0, "an install started");

  step = "install with the settings; the credential is shown";
  await user.fill("dora");
  await greeting.fill("salut");
  await page.locator("[data-testid=install]").click();
  const box = page.locator("[data-testid=credentials]");
  await box.waitFor({ timeout: 180000 });
  expect((await box.innerText()).includes("not shown again"), "the box does not say it is shown once");
  const value = await box.locator("[data-testid=credential-value]").innerText();
  expect(/^[A-Za-z0-9]{24}$/.test(value), "not a 24-character credential: " + value);
  expect((await box.locator("[data-testid=credential]").innerText()).includes("admin-password (container web)"), "the credential is not named");
  expect(await box.locator("[data-testid=copy-credential]").count() === 1, "no copy button");

  step = "the box survives the page's re-render after the job";
  await page.waitForTimeout(1500);
  await page.waitForSelector("[data-testid=app-name]");
  expect(await box.isVisible(), "the credentials went with the re-render");

  step = "the app got the settings and the credential";
  const served = await (await fetch("http://127.0.0.1:" + port + "/config.txt")).text();
  expect(served === "user=dora\npass=" + value + "\ngreeting=salut\n", "the app serves " + JSON.stringify(served));

  step = "dismiss";
  mkdirSync(shots, { recursive: true });
  await page.screenshot({ path: shots + "/settings-credentials.png", fullPage: true });
  await page.locator("[data-testid=dismiss-credentials]").click();
  expect(await box.count() === 0, "the box stays after Dismiss");
  expect(pageErrors.length === 0, "page errors: " + pageErrors.join(" | "));
  console.log("settings browser test passed");
  await browser.close();
  process.exit(0);
} catch (e) {
  console.error(String(e));
  try { mkdirSync(shots, { recursive: true }); await page.screenshot({ path: shots + "/settings-failed.png", fullPage: true }); } catch {}
  await browser.close();
  process.exit(1);
}
