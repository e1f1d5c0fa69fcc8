// Screenshot of the marketplace for the README: node tests/browser/screenshot.mjs URL OUT.png
import { launchChromium } from "./chromium.mjs";
const [url, out] = process.argv.slice(2);
const browser = await launchChromium();
const page = await browser.newPage({ viewport: { width: 1200, height: 720 } });
await page.goto(url);
await page.waitForSelector("[data-testid=app-card] img.icon");
await page.waitForTimeout(300);
await page.screenshot({ path: out });
await browser.close();
