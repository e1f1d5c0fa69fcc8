// The one way the browser tests start Chromium: headless Debian chromium (or $CHROMIUM, a
// path override), no sandbox (CI runs as root), nothing that talks to the network by itself.
import { chromium } from "playwright-core";

export function launchChromium() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}
