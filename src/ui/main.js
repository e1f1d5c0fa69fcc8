// atoll marketplace UI: routing. Classic script sharing globals with the others
// (load order in index.html); every network string goes in with textContent.
"use strict";
// --- routing ---------------------------------------------------------------------------------
function route() {
  document.getElementById("view").replaceChildren(document.createElement("div"));
  const hash = location.hash || "#/";
  const m = hash.match(/^#\/(app|explain)\/(.+)$/);
  if (m && m[1] === "app") return showApp(m[2].split("/").map(decodeURIComponent).join("/"));
  if (m && m[1] === "explain") return showExplain(decodeURIComponent(m[2]));
  if (hash.startsWith("#/installed")) return showInstalled();
  if (hash.startsWith("#/trust")) return showTrust();
  if (hash.startsWith("#/network")) return showNetwork();
  return showMarket();
}
window.addEventListener("hashchange", route);
window.addEventListener("DOMContentLoaded", async () => {
  route();
  try {
    const s = await api("/status");
    document.getElementById("demo-banner").hidden = !s.demo;
    const count = (n, one, many) => n + " " + (n === 1 ? one : many);
    document.getElementById("node-status").textContent = count(s.apps, "app", "apps") + " · " + count(s.publishers, "publisher", "publishers") + " · " + count(s.relays_connected, "relay", "relays");
  } catch { document.getElementById("node-status").textContent = "node unreachable"; }
});
