// Screenshots of every page, at desktop and phone width, for docs and issue notes:
// node tests/browser/tour.mjs URL#token=… OUTDIR APPREF (APPREF: an app to show the page of).
import { launchChromium } from "./chromium.mjs";
const [url, out, appRef] = process.argv.slice(2);
const base = url.split("#")[0];
const pages = [
  ["market", "#/"],
  ["app", "#/app/" + appRef.split("/").map(encodeURIComponent).join("/")],
  ["installed", "#/installed"],
  ["trust", "#/trust"],
  ["network", "#/network"],
];
const browser = await launchChromium();
for (const [size, viewport] of [["desktop", { width: 1200, height: 900 }], ["phone", { width: 390, height: 844 }]]) {
  const page = await browser.newPage({ viewport });
  await page.goto(url);
  for (const [name, hash] of pages) {
    await page.goto(base + hash);
    await page.waitForLoadState("networkidle");
    await page.waitForTimeout(800);
    const width = await page.evaluate(() => document.scrollingElement.scrollWidth);
    await page.screenshot({ path: `${out}/${name}-${size}.png`, fullPage: size === "desktop" });
    console.log(`${name}-${size}.png page width ${width} px`);
  }
  await page.close();
}
await browser.close();
