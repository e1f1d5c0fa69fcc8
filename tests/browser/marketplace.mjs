// Browser test of the marketplace in Debian's headless Chromium, driven by playwright-core.
// Run by tests/node.rs with ATOLL_URL (the node, token in the fragment) and ATOLL_SHOTS (where
// screenshots go). It installs the third party's app through the UI (its image fetched over
// iroh, the progress in bytes), opens it and uninstalls it. Exits non-zero with a message on the first failed expectation; a
// screenshot of the page at that moment is kept in ATOLL_SHOTS.
import { mkdirSync } from "node:fs";
import { launchChromium } from "./chromium.mjs";

const url = process.env.ATOLL_URL;
const shots = process.env.ATOLL_SHOTS || ".";
const docShot = process.env.ATOLL_DOC_SHOT; // where to write the README screenshot, if set
if (!url) { console.error("ATOLL_URL is not set"); process.exit(2); }

const browser = await launchChromium();
const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
const dialogs = [];
page.on("dialog", (d) => { dialogs.push(d.message()); d.dismiss(); });
const pageErrors = [];
page.on("pageerror", (e) => pageErrors.push(String(e)));
let step = "start";
function expect(cond, what) { if (!cond) throw new Error(step + ": " + what); }
// Type into the search box and wait until the grid shows exactly one card holding `text`.
async function searchFor(words, text) {
  await page.fill("[data-testid=search]", words);
  await page.waitForFunction((t) => {
    const cards = document.querySelectorAll("[data-testid=app-card]");
    return cards.length === 1 && cards[0].textContent.includes(t);
  }, text, { timeout: 10000 });
}

try {
  step = "open the marketplace";
  await page.goto(url);
  await page.waitForSelector("[data-testid=app-card]", { timeout: 20000 });
  const cards = await page.locator("[data-testid=app-card]").count();
  expect(cards >= 3, "expected at least 3 app cards, saw " + cards);
  expect(await page.locator("#demo-banner").isVisible(), "the demo banner is not shown");
  // Only the demo publisher's apps carry the demo mark; the third-party app does not.
  const thirdParty = page.locator("[data-testid=app-card]", { hasText: "Elsewhere Notes" });
  expect(await thirdParty.count() === 1, "the third-party app is not listed");
  expect(await thirdParty.locator("[data-testid=demo-badge]").count() === 0, "the third-party app is marked demo");
  const demoApp = page.locator("[data-testid=app-card]", { hasText: "Hello Static" });
  expect(await demoApp.locator("[data-testid=demo-badge]").count() === 1, "a demo app is not marked demo");
  if (docShot) await page.screenshot({ path: docShot });

  step = "hostile strings render as text";
  const hostile = page.locator("[data-testid=app-card]", { hasText: "<img src=x onerror" });
  expect(await hostile.count() === 1, "the hostile app's name is not shown as literal text");
  expect(await page.locator("img[src='x']").count() === 0, "an <img> from the app name was created");
  expect(await page.evaluate(() => window.__pwned === undefined), "a script from the description ran");

  step = "search";
  await searchFor("tier", "Two Tier");
  expect((await page.locator("[data-testid=app-card] h3").innerText()) === "Two Tier", "search for 'tier' did not find Two Tier");

  step = "open the hostile app's page";
  await searchFor("onerror", "<img src=x onerror");
  await page.click("[data-testid=app-card]");
  await page.waitForSelector("[data-testid=app-name]");
  expect((await page.locator("[data-testid=app-name]").innerText()).includes("<img src=x onerror"), "app page name not literal");
  expect((await page.locator("[data-testid=app-description]").innerText()).includes("<script>"), "app page description not literal");
  expect(await page.evaluate(() => window.__pwned === undefined), "a script ran on the app page");
  expect(await page.locator("img[src='x']").count() === 0, "an <img> from the app page was created");

  step = "open an app";
  await page.goto(url.split("#")[0] + "#/");
  await page.waitForSelector("[data-testid=app-card]");
  await searchFor("hello", "Hello Static");
  await page.click("[data-testid=app-card]");
  await page.waitForSelector("[data-testid=app-name]");
  expect((await page.locator("[data-testid=app-name]").innerText()) === "Hello Static", "wrong app page");
  const shot = page.locator("[data-testid=screenshots] img[data-testid=screenshot]");
  await shot.waitFor({ timeout: 20000 });
  expect((await shot.getAttribute("alt")) === "The page it serves: Hello from atoll", "screenshot alt " + (await shot.getAttribute("alt")));
  await page.waitForFunction(() => { const i = document.querySelector("img[data-testid=screenshot]"); return i && i.complete && i.naturalWidth === 640; }, null, { timeout: 20000 });
  expect((await page.locator("[data-testid=publisher-did]").innerText()).startsWith("did:key:z6Mk"), "no publisher DID");
  expect((await page.locator("[data-testid=trust-explanation]").innerText()).includes("pinned"), "no trust explanation");

  step = "pin the third-party publisher on the trust page";
  const base = url.split("#")[0];
  await page.goto(base + "#/");
  await page.waitForSelector("[data-testid=app-card]");
  await searchFor("elsewhere", "Elsewhere Notes");
  await page.click("[data-testid=app-card]");
  await page.waitForSelector("[data-testid=publisher-did]");
  const thirdDid = (await page.locator("[data-testid=publisher-did]").innerText()).trim();
  expect(thirdDid.startsWith("did:key:z6Mk"), "no third-party DID: " + thirdDid);
  await page.goto(base + "#/trust");
  await page.fill("input[aria-label='publisher DID']", thirdDid);
  await page.click("button:text-is('pin')");
  await page.waitForFunction((d) => [...document.querySelectorAll("tr")]
    .some((r) => r.textContent.includes(d) && r.textContent.includes("pinned")), thirdDid, { timeout: 20000 });

  // The third party's image is not on this node: the install fetches it over iroh from
  // the third party's node (the entry's origin), and the progress says so in bytes.
  step = "install the third party's app with live fetch progress";
  await page.goto(base + "#/");
  await page.waitForSelector("[data-testid=app-card]");
  await searchFor("elsewhere", "Elsewhere Notes");
  await page.click("[data-testid=app-card]");
  await page.waitForSelector("[data-testid=install]");
  await page.evaluate(() => {
    window.__progress = [];
    const area = document.querySelector("[data-testid=progress-area]");
    new MutationObserver(() => {
      const m = document.querySelector("[data-testid=progress-message]");
      if (m) window.__progress.push(Object.assign({ text: m.textContent }, m.dataset));
    }).observe(area, { subtree: true, childList: true, characterData: true, attributes: true });
  });
  await page.click("[data-testid=install]");
  const msg = page.locator("[data-testid=progress-message]");
  await page.waitForFunction(() => {
    const m = document.querySelector("[data-testid=progress-message]");
    return m && (m.dataset.state === "done" || m.textContent.startsWith("Failed"));
  }, null, { timeout: 180000 });
  expect((await msg.getAttribute("data-state")) === "done", "install did not finish: " + (await msg.innerText()));
  const seen = await page.evaluate(() => window.__progress);
  const percents = seen.map((p) => Number(p.percent || 0));
  expect(percents.every((p, i) => i === 0 || p >= percents[i - 1]), "progress went backwards: " + percents.join(","));
  const image = seen.filter((p) => p.stage === "fetch" && /image/.test(p.text) && Number(p.total) > 0);
  const moving = image.filter((p) => p.fetchState === "fetching" && Number(p.fetched) > 0 && Number(p.fetched) <= Number(p.total));
  expect(moving.length > 0, "no image bytes were shown while fetching: " + JSON.stringify(seen.slice(0, 40)));
  expect(moving.every((p) => p.source.startsWith("origin ") && p.path === "direct" && / of .* from origin /.test(p.text)),
    "the fetch did not name its source and path: " + JSON.stringify(moving[0]));
  const fetched = image.map((p) => Number(p.fetched));
  expect(fetched.every((n, i) => i === 0 || n >= fetched[i - 1]), "image bytes went backwards: " + fetched.join(","));
  const last = image[image.length - 1];
  expect(last && last.fetchState === "done" && last.fetched === last.total, "the image fetch did not end at its total: " + JSON.stringify(last));
  console.log("install fetch: " + moving.length + " fetching events, e.g. '" + moving[Math.floor(moving.length / 2)].text + "'; last '" + last.text + "'");

  step = "installed page shows it running";
  await page.goto(base + "#/installed");
  await page.waitForSelector("[data-testid=installed-app]");
  await page.waitForFunction(() => {
    const s = document.querySelector("[data-testid=installed-app] [data-testid=state]");
    return s && s.textContent === "running";
  }, null, { timeout: 60000 }).catch(() => {});
  expect((await page.locator("[data-testid=installed-app] [data-testid=state]").first().innerText()) === "running", "state is not running");

  step = "open the app's web UI";
  const href = await page.locator("[data-testid=installed-app] [data-testid=open-app]").first().getAttribute("href");
  expect(href && href.startsWith("http://127.0.0.1:"), "no web UI link: " + href);
  const app = await browser.newPage();
  const res = await app.goto(href);
  expect(res && res.status() === 200, "the app's web UI did not answer 200");
  expect((await app.content()).includes("Hello from atoll"), "the app's page is not the hello-static page");
  await app.close();

  step = "uninstall";
  await page.click("[data-testid=installed-app] [data-testid=uninstall]");
  await page.click("[data-testid=installed-app] [data-testid=uninstall-confirm]");
  // The job's end: its message (kept with the outcome after the page re-rendered) says
  // done or failed.
  await page.waitForFunction(() => {
    const m = document.querySelector("[data-testid=progress-message]");
    return m && (m.dataset.state === "done" || m.textContent.startsWith("Failed"));
  }, null, { timeout: 120000 });
  const ended = page.locator("[data-testid=progress-message]");
  expect((await ended.getAttribute("data-state")) === "done", "uninstall failed: " + (await ended.textContent()));
  await page.goto(base + "#/installed");
  await page.waitForSelector("text=Nothing installed yet", { timeout: 20000 });

  step = "unpin the third-party publisher again";
  await page.goto(base + "#/trust");
  await page.fill("input[aria-label='publisher DID']", thirdDid);
  await page.click("button:text-is('unpin')");
  await page.waitForFunction((d) => ![...document.querySelectorAll("tr")]
    .some((r) => r.textContent.includes(d) && r.textContent.includes("pinned")), thirdDid, { timeout: 20000 });

  expect(dialogs.length === 0, "a dialog was opened: " + dialogs.join(" | "));
  expect(pageErrors.length === 0, "page errors: " + pageErrors.join(" | "));
  console.log("browser test passed");
} catch (e) {
  const file = shots + "/failure-" + step.replace(/[^a-z0-9]+/gi, "-") + ".png";
  try { mkdirSync(shots, { recursive: true }); await page.screenshot({ path: file, fullPage: true }); } catch {}
  console.error("browser test failed: " + e.message + " (screenshot: " + file + ")");
  await browser.close();
  process.exit(1);
}
await browser.close();
