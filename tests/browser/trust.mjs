// Browser test of trust in the marketplace (headless Chromium, playwright-core), run by
// tests/node/trust.rs with ATOLL_URL (the node, token in the fragment), ATOLL_SHOTS,
// ATOLL_LOOKALIKE (an app ref whose id another publisher had first), ATOLL_SUBJECT (a
// publisher others endorse) and ATOLL_ENDORSER (the DID of a key in the node's home).
// It checks the warning before install, who endorses whom, and the endorse form with the
// token; network strings stay text. Exits non-zero on the first failed expectation, with
// a screenshot in ATOLL_SHOTS.
import { mkdirSync } from "node:fs";
import { launchChromium } from "./chromium.mjs";

const url = process.env.ATOLL_URL;
const shots = process.env.ATOLL_SHOTS || ".";
const lookalike = process.env.ATOLL_LOOKALIKE;
const subject = process.env.ATOLL_SUBJECT;
const endorser = process.env.ATOLL_ENDORSER;
if (!url || !lookalike || !subject || !endorser) { console.error("ATOLL_URL, ATOLL_LOOKALIKE, ATOLL_SUBJECT, ATOLL_ENDORSER must be set"); process.exit(2); }

const browser = await launchChromium();
const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
const pageErrors = [];
page.on("pageerror", (e) => pageErrors.push(String(e)));
let step = "start";
function expect(cond, what) { if (!cond) throw new Error(step + ": " + what); }
const base = url.split("#")[0];
const refPath = (r) => r.split("/").map(encodeURIComponent).join("/");

try {
  step = "take the token";
  await page.goto(url);
  await page.waitForSelector("[data-testid=app-card]", { timeout: 20000 });

  step = "the look-alike app warns before install";
  await page.goto(base + "#/app/" + refPath(lookalike));
  await page.waitForSelector("[data-testid=app-name]");
  const warning = page.locator("[data-testid=install-warnings] [data-testid=warning-same-app-id]");
  expect(await warning.count() === 1, "no same-app-id warning on " + lookalike);
  expect((await warning.innerText()).includes("different publisher"), "the warning does not say why: " + await warning.innerText());

  step = "who endorses whom";
  await page.goto(base + "#/explain/" + encodeURIComponent(subject));
  await page.waitForSelector("[data-testid=endorsements] [data-testid=endorsements-received]");
  const received = page.locator("[data-testid=endorsements-received]");
  await page.waitForFunction(() => document.querySelector("[data-testid=endorsements-received]").textContent.includes("alice"), null, { timeout: 10000 });
  expect((await received.innerText()).includes("alice"), "alice's endorsement of the subject is not listed");
  const given = await page.locator("[data-testid=endorsements-given]").innerText();
  expect(given.includes("carol") || given.includes("<b>helpful</b>"), "the subject's own endorsement is not listed: " + given);
  expect(await page.locator("[data-testid=endorsements] b").count() === 0, "a reason from the network became HTML");

  step = "endorse with a key of the node (token)";
  await page.waitForFunction(() => document.querySelectorAll("[data-testid=endorse-key] option").length > 0, null, { timeout: 10000 });
  await page.selectOption("[data-testid=endorse-key]", "operator");
  await page.fill("[data-testid=endorse-weight]", "0.6");
  await page.fill("[data-testid=endorse-reason]", "<i>reliable</i>");
  await page.click("[data-testid=endorse]");
  await page.waitForSelector("[data-testid=endorse-done]", { timeout: 30000 });
  expect((await page.locator("[data-testid=endorse-done]").innerText()).includes("0.60"), "the answer does not show the weight");
  await page.waitForFunction(() => document.querySelector("[data-testid=endorsements-received]").textContent.includes("<i>reliable</i>"), null, { timeout: 10000 });
  expect(await page.locator("[data-testid=endorsements] i").count() === 0, "the reason typed in became HTML");
  const rows = await received.innerText();
  expect(rows.includes("operator"), "the new endorsement does not name its signer: " + rows);

  step = "bad input is refused with its reason";
  await page.fill("[data-testid=endorse-weight]", "1.5");
  await page.click("[data-testid=endorse]");
  await page.waitForSelector("[data-testid=endorse-result] .error", { timeout: 10000 });
  expect((await page.locator("[data-testid=endorse-result] .error").innerText()).includes("outside [-1, 1]"), "weight 1.5 was not refused with its reason");

  expect(pageErrors.length === 0, "page errors: " + pageErrors.join(" | "));
  console.log("trust browser test passed");
} catch (e) {
  const file = shots + "/failure-trust-" + step.replace(/[^a-z0-9]+/gi, "-") + ".png";
  try { mkdirSync(shots, { recursive: true }); await page.screenshot({ path: file, fullPage: true }); } catch {}
  console.error("trust browser test failed: " + e.message + " (screenshot: " + file + ")");
  await browser.close();
  process.exit(1);
}
await browser.close();
