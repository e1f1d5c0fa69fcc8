// Browser test of app dependencies in Debian's headless Chromium (playwright-core). Run by
// tests/node/deps.rs with ATOLL_URL (the node, token in the fragment), ATOLL_SHOTS,
// DEPS_APP (ref of an app depending on DEPS_BASE, neither installed) and DEPS_CYCLE (ref
// of an app in a dependency cycle). The app page offers the dependency ("also installs X
// by Y (trust Z)") and installs both on the one confirm, the progress naming each app; an
// app in a cycle says why it cannot be installed and offers no Install; on the Installed
// page, uninstalling the dependency is refused naming the app that needs it. Exits
// non-zero on the first failed expectation, with a screenshot.
import { mkdirSync } from "node:fs";
import { launchChromium } from "./chromium.mjs";

const url = process.env.ATOLL_URL;
const shots = process.env.ATOLL_SHOTS || ".";
const app = process.env.DEPS_APP;
const dep = process.env.DEPS_BASE;
const cycle = process.env.DEPS_CYCLE;
if (!url || !app || !dep || !cycle) {
  console.error("ATOLL_URL, DEPS_APP, DEPS_BASE and DEPS_CYCLE must be set");
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
// The install's outcome: "done" or "Failed: …" (the message is kept with the outcome after
// the page re-renders), or "installed" when the page shows it installed.
const finished = async () => (await page.waitForFunction(() => {
  const m = document.querySelector("[data-testid=progress-message]");
  if (m && m.dataset.state === "done") return "done";
  if (m && m.textContent.startsWith("Failed")) return m.textContent;
  if (!m && document.body.textContent.includes("Installed: manage it")) return "installed";
  return null;
}, null, { timeout: 180000 })).jsonValue();

try {
  await page.goto(url); // takes the token from the fragment
  step = "an app in a dependency cycle says why and offers no Install";
  await page.goto(appUrl(cycle));
  const error = page.locator("[data-testid=dependency-error]");
  await error.waitFor({ timeout: 20000 });
  expect((await error.innerText()).includes("cycle"), "no cycle named: " + (await error.innerText()));
  expect(await page.locator("[data-testid=install]").count() === 0, "Install offered for a cycle");

  step = "the app page offers the dependency, by whom, with its trust";
  await page.goto(appUrl(app));
  const offer = page.locator("[data-testid=dependency-offer]");
  await offer.waitFor({ timeout: 20000 });
  const items = await offer.locator("[data-testid=dependency]").evaluateAll((els) => els.map((e) => [e.dataset.ref, e.textContent]));
  expect(items.length === 1 && items[0][0] === dep, "offered " + JSON.stringify(items));
  expect(/also installs dep-base 1\.0\.0 by guarded \(trust 1\.00\)/.test(items[0][1]), "offer reads " + items[0][1]);
  const install = page.locator("[data-testid=install]");
  expect((await install.innerText()).includes("with 1 dependency"), "button reads " + (await install.innerText()));

  step = "one confirm installs the dependency, then the app";
  const seen = [];
  await page.exposeFunction("atollSeen", (a) => seen.push(a));
  await page.evaluate(() => {
    new MutationObserver(() => {
      const m = document.querySelector("[data-testid=progress-message]");
      if (m && m.dataset.app) window.atollSeen(m.dataset.app);
    }).observe(document.body, { subtree: true, attributes: true, childList: true, characterData: true });
  });
  await install.click();
  const outcome = await finished();
  expect(outcome === "done" || outcome === "installed", "the install did not finish: " + outcome);
  const firstApp = seen.indexOf(app);
  expect(seen.includes(dep) && firstApp > seen.lastIndexOf(dep), "progress named " + JSON.stringify([...new Set(seen)]));

  step = "uninstalling the dependency is refused, naming who needs it";
  await page.goto(base + "#/installed");
  const card = page.locator("[data-testid=installed-app]", { hasText: "Dep dep-base" });
  await card.waitFor({ timeout: 20000 });
  await card.locator("[data-testid=uninstall]").click();
  await card.locator("[data-testid=uninstall-confirm]").click();
  const refusal = card.locator("[data-testid=progress-message]");
  await refusal.waitFor({ timeout: 20000 });
  await page.waitForFunction((el) => el.textContent.startsWith("Failed"), await refusal.elementHandle(), { timeout: 20000 });
  const text = await refusal.innerText();
  expect(text.includes(app) && text.includes("depends on it"), "refusal reads " + text);

  expect(dialogs.length === 0, "a dialog was opened: " + dialogs.join(" | "));
  expect(pageErrors.length === 0, "page errors: " + pageErrors.join(" | "));
  console.log("dependencies browser test passed");
} catch (e) {
  const file = shots + "/failure-deps-" + step.replace(/[^a-z0-9]+/gi, "-") + ".png";
  try { mkdirSync(shots, { recursive: true }); await page.screenshot({ path: file, fullPage: true }); } catch {}
  console.error("dependencies browser test failed: " + e.message + " (screenshot: " + file + ")" + (pageErrors.length ? "; page errors: " + pageErrors.join(" | ") : ""));
  await browser.close();
  process.exit(1);
}
await browser.close();
