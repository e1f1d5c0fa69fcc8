// Browser test of key rotation in the marketplace (headless Chromium, playwright-core), run
// by tests/node/publish.rs after a publisher's key rotated through the running node, with
// ATOLL_URL (the node, token in the fragment), ATOLL_SHOTS, ATOLL_APP (the ref of an app of
// that publisher), ATOLL_KEY (the publisher's current key DID, index 1) and ATOLL_VOID_SEQ
// (the sequence of a thief's entry, signed by the retired key after the rotation's `last`).
// It checks the "rotated" badge on the app card and the app page, the key history (index,
// key), the void version with its reason, and the key-rotated warning before install;
// strings stay text (no element the page did not build). Exits non-zero on the first
// failed expectation, with a screenshot in ATOLL_SHOTS.
import { mkdirSync } from "node:fs";
import { launchChromium } from "./chromium.mjs";

const url = process.env.ATOLL_URL;
const shots = process.env.ATOLL_SHOTS || ".";
const app = process.env.ATOLL_APP;
const key = process.env.ATOLL_KEY;
const voidSeq = process.env.ATOLL_VOID_SEQ;
if (!url || !app || !key || !voidSeq) { console.error("ATOLL_URL, ATOLL_APP, ATOLL_KEY, ATOLL_VOID_SEQ must be set"); process.exit(2); }

const browser = await launchChromium();
const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
const pageErrors = [];
page.on("pageerror", (e) => pageErrors.push(String(e)));
let step = "start";
function expect(cond, what) { if (!cond) throw new Error(step + ": " + what); }
const base = url.split("#")[0];
const refPath = (r) => r.split("/").map(encodeURIComponent).join("/");
const badgesOf = (loc) => loc.locator("[data-testid=badge]").evaluateAll((els) => els.map((e) => e.dataset.badge));
// Tags of every element under `sel`: only the ones the page builds for it.
const tagsUnder = (sel) => page.locator(sel).evaluateAll((els) => els.flatMap((e) => [...e.querySelectorAll("*")].map((c) => c.tagName.toLowerCase())));

try {
  step = "the rotated badge on the app card";
  await page.goto(url);
  const card = page.locator(`[data-testid=app-card][href="#/app/${refPath(app)}"]`);
  await card.waitFor({ timeout: 20000 });
  const cardBadges = await badgesOf(card);
  expect(cardBadges.includes("rotated"), "the card's badges are " + JSON.stringify(cardBadges));
  const title = await card.locator("[data-badge=rotated]").getAttribute("title");
  expect(title && title.includes("key rotated"), "the rotated badge does not say what it means: " + title);

  step = "the rotated badge on the app page";
  await page.goto(base + "#/app/" + refPath(app));
  await page.waitForSelector("[data-testid=app-name]");
  const pageBadges = await badgesOf(page.locator(".detail-head"));
  expect(pageBadges.includes("rotated"), "the app page's badges are " + JSON.stringify(pageBadges));

  step = "the key history: index and key";
  const history = page.locator("[data-testid=key-history]");
  await history.waitFor({ timeout: 10000 });
  const text = await history.innerText();
  expect(text.includes("index 1: " + key), "the key history does not show index 1 and the current key: " + text);
  expect(text.includes("rotation 1") && text.includes(key), "the rotation is not listed: " + text);
  expect(text.includes("void entry") && text.includes("#" + voidSeq), "the rotation does not list what it voided: " + text);
  const historyTags = new Set(await tagsUnder("[data-testid=key-history]"));
  expect([...historyTags].every((t) => ["h3", "p", "ul", "li"].includes(t)), "the key history holds elements it does not build: " + [...historyTags]);

  step = "the void version, with its reason";
  const row = page.locator("tr", { has: page.locator("[data-testid=void-version]") });
  expect(await row.count() === 1, "not exactly one void version: " + await row.count());
  const seq = await row.locator("td.mono").innerText();
  expect(seq.trim() === voidSeq, "the void version's sequence is " + seq);
  const reason = await row.locator("[data-testid=void-version]").innerText();
  expect(reason.startsWith("void: signed by retired key 0 after its last legitimate sequence"), "the void version does not say why: " + reason);
  expect((await tagsUnder("[data-testid=void-version]")).length === 0, "the void reason holds elements");

  step = "the key-rotated warning before install";
  const warning = page.locator("[data-testid=install-warnings] [data-testid=warning-key-rotated]");
  expect(await warning.count() === 1, "no key-rotated warning");
  const w = await warning.innerText();
  expect(w.includes("key rotated") && w.includes("void"), "the warning does not say the key rotated and what is void: " + w);
  expect((await tagsUnder("[data-testid=warning-key-rotated]")).length === 0, "the warning holds elements");

  expect(pageErrors.length === 0, "page errors: " + pageErrors.join(" | "));
  console.log("rotation browser test passed");
  await browser.close();
} catch (e) {
  const file = shots + "/failure-rotation-" + step.replace(/[^a-z0-9]+/gi, "-") + ".png";
  try { mkdirSync(shots, { recursive: true }); await page.screenshot({ path: file, fullPage: true }); } catch {}
  console.error("rotation browser test failed: " + e.message + " (screenshot: " + file + ")");
  await browser.close();
  process.exit(1);
}
