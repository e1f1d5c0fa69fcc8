// Browser test of blocking and the phone layout (headless Chromium at 390x844,
// playwright-core), run by tests/node/block.rs with ATOLL_URL (the node, token in the
// fragment), ATOLL_SHOTS, BLOCKED_REF (an app of a blocked publisher, not installed),
// INSTALLED_REF (an installed app of a blocked, pinned publisher) and DEMO_DID (that
// publisher). It checks: no horizontal scroll and a whole menu on every page; the guard
// refusing the blocked app (no "anyway"); the permission table's limits, user and network;
// the warning on the installed app; the Trust page's blocked rows and unblock; a wrong
// token answered with where the right one is; the status bar's singular/plural; the
// favicon. Exits non-zero on the first failed expectation, with a screenshot.
import { mkdirSync } from "node:fs";
import { launchChromium } from "./chromium.mjs";

const url = process.env.ATOLL_URL;
const shots = process.env.ATOLL_SHOTS || ".";
const blocked = process.env.BLOCKED_REF;
const installed = process.env.INSTALLED_REF;
const demo = process.env.DEMO_DID;
if (!url || !blocked || !installed || !demo) { console.error("ATOLL_URL, BLOCKED_REF, INSTALLED_REF, DEMO_DID must be set"); process.exit(2); }

const WIDTH = 390;
const browser = await launchChromium();
const page = await browser.newPage({ viewport: { width: WIDTH, height: 844 } });
const pageErrors = [];
page.on("pageerror", (e) => pageErrors.push(String(e)));
let step = "start";
function expect(cond, what) { if (!cond) throw new Error(step + ": " + what); }
const base = url.split("#")[0];
const refPath = (r) => r.split("/").map(encodeURIComponent).join("/");

// The page fits the phone: nothing scrolls sideways, every menu entry is on screen.
async function fits(name) {
  const width = await page.evaluate(() => document.scrollingElement.scrollWidth);
  expect(width <= WIDTH, name + " is " + width + " px wide at " + WIDTH + " px");
  const links = await page.locator("[data-testid=menu] a").evaluateAll((els) => els.map((e) => {
    const r = e.getBoundingClientRect(); return { text: e.textContent, left: r.left, right: r.right };
  }));
  expect(links.length === 4, "the menu has " + links.length + " entries");
  for (const l of links) expect(l.left >= 0 && l.right <= WIDTH, "menu entry " + l.text + " is cut off (" + l.left + "–" + l.right + ")");
}

try {
  step = "marketplace";
  await page.goto(url);
  await page.waitForSelector("[data-testid=app-card]", { timeout: 20000 });
  await fits("the marketplace");

  step = "status bar: singular and plural";
  await page.waitForFunction(() => /publisher/.test(document.querySelector("[data-testid=node-status]").textContent), null, { timeout: 10000 });
  const status = await page.locator("[data-testid=node-status]").innerText();
  expect(!/\b1 (apps|publishers|relays)\b/.test(status) && !/relay\(s\)/.test(status), "status bar: " + status);
  expect(/\b(1 publisher|\d+ publishers)\b/.test(status), "status bar does not count publishers: " + status);

  step = "favicon";
  expect(await page.locator("link[rel=icon]").count() === 1, "no <link rel=icon>");
  const icon = await page.evaluate(async () => {
    const out = [];
    for (const p of [document.querySelector("link[rel=icon]").href, "/favicon.ico"]) {
      const r = await fetch(p); out.push([r.status, r.headers.get("content-type"), (await r.text()).slice(0, 4)]);
    }
    return out;
  });
  for (const [s, type, body] of icon) expect(s === 200 && type.startsWith("image/svg+xml") && body === "<svg", "favicon: " + s + " " + type);

  step = "the blocked publisher's app is refused, with no override offered";
  await page.goto(base + "#/app/" + refPath(blocked));
  await page.waitForSelector("[data-testid=install-guard]", { timeout: 20000 });
  await fits("the app page");
  expect(await page.locator("[data-testid=install]").isDisabled(), "Install is not disabled for a blocked publisher's app");
  expect(!(await page.locator("[data-testid=install]").innerText()).includes("anyway"), "the button offers an override");
  expect(await page.locator("[data-testid=override-dialog]").count() === 0, "an override dialog exists");
  const why = await page.locator("[data-testid=guard-reasons] li").allInnerTexts();
  expect(why.length === 1 && why[0].includes("blocked") && why[0].includes("no override"), "reasons: " + why);
  expect((await page.locator("[data-testid=guard-refused]").innerText()).includes("refuses"), "no refusal said");

  step = "what it asks for: limits, user, network";
  const row = async (id) => page.locator("[data-testid=" + id + "] td").innerText();
  expect((await row("perm-memory")).includes("48 MiB"), "memory: " + await row("perm-memory"));
  expect((await row("perm-cpus")).includes("0.5 CPU"), "cpus: " + await row("perm-cpus"));
  expect((await row("perm-user")).includes("1000:1000"), "user: " + await row("perm-user"));
  expect((await row("perm-network")).includes("private network"), "network: " + await row("perm-network"));

  step = "the installed app of a blocked publisher is marked";
  await page.goto(base + "#/installed");
  await page.waitForSelector("[data-testid=installed-app]", { timeout: 20000 });
  await fits("the Installed page");
  const warning = page.locator("[data-testid=publisher-blocked]");
  expect(await warning.count() === 1, "no blocked-publisher warning on the installed app");
  const w = await warning.innerText();
  expect(w.includes("stop") && w.includes("uninstall") && w.includes("keeps running"), "the warning does not say what to do: " + w);
  expect((await page.locator("[data-testid=state]").innerText()) === "running", "the block stopped the app");

  step = "network page";
  await page.goto(base + "#/network");
  await page.waitForTimeout(1500);
  await fits("the Network page");

  step = "a wrong token is answered with where the right one is";
  const good = await page.evaluate(() => localStorage.getItem("atoll-token"));
  await page.evaluate(() => localStorage.setItem("atoll-token", "ab".repeat(32)));
  await page.goto(base + "#/trust");
  await page.waitForSelector("[data-testid=trust-list]", { timeout: 20000 });
  await page.fill("[data-testid=trust-did]", demo);
  await page.click("[data-testid=trust-pin]");
  await page.waitForSelector("[data-testid=trust-result] .error", { timeout: 10000 });
  const answer = await page.locator("[data-testid=trust-result]").innerText();
  expect(answer.includes("not accepted") && answer.includes("atoll node token"), "wrong-token answer: " + answer);
  await page.evaluate((t) => localStorage.setItem("atoll-token", t), good);

  step = "the Trust page lists blocked publishers with unblock";
  await page.goto(base + "#/trust");
  await page.waitForSelector("[data-testid=trust-list]", { timeout: 20000 });
  await fits("the Trust page");
  const demoRow = page.locator("[data-testid=trust-row][data-did=\"" + demo + "\"]");
  expect(await demoRow.count() === 1, "the blocked demo publisher is not listed");
  expect((await demoRow.getAttribute("data-blocked")) === "true", "the demo publisher is not shown blocked");
  expect(await demoRow.locator("[data-testid=pin-kept]").count() === 1, "the kept pin is not shown");
  const blockedRows = await page.locator("[data-testid=trust-row][data-blocked=true]").count();
  expect(blockedRows === 2, blockedRows + " blocked rows, expected 2");
  await demoRow.locator("[data-testid=unblock]").click();
  await page.waitForFunction((d) => {
    const r = document.querySelector("[data-testid=trust-row][data-did=\"" + d + "\"]");
    return r && r.dataset.blocked === "false";
  }, demo, { timeout: 10000 });
  const after = await page.locator("[data-testid=trust-row][data-did=\"" + demo + "\"]").innerText();
  expect(after.includes("pinned"), "after unblock the publisher is not pinned again: " + after);

  expect(pageErrors.length === 0, "page errors: " + pageErrors.join(" | "));
  console.log("block browser test passed");
} catch (e) {
  const file = shots + "/failure-block-" + step.replace(/[^a-z0-9]+/gi, "-") + ".png";
  try { mkdirSync(shots, { recursive: true }); await page.screenshot({ path: file, fullPage: true }); } catch {}
  console.error("block browser test failed: " + e.message + " (screenshot: " + file + ")");
  await browser.close();
  process.exit(1);
}
await browser.close();
