// atoll marketplace UI: network and relays. Classic script sharing globals with the others
// (load order in index.html); every network string goes in with textContent.
"use strict";
// --- network -------------------------------------------------------------------------------
async function showNetwork() {
  setNav("network");
  const v = clear(view());
  let n;
  try { n = await api("/network"); } catch (e) { v.append(errorBox(e)); return; }
  const kv = (obj) => h("table", {}, Object.entries(obj || {}).map(([k, val]) => h("tr", {}, h("th", {}, k), h("td.mono", {}, typeof val === "object" ? JSON.stringify(val) : String(val)))));
  v.append(h("h1", {}, "Network"),
    h("section.card", {}, h("h2", {}, "This node"), kv(n.node)),
    relayCard(),
    h("section.card", {}, h("h2", {}, "Peers"), (n.peers || []).length ? h("ul", {}, n.peers.map((p) => h("li.mono", {}, p))) : h("p.muted", {}, "none")),
    h("section.card", {}, h("h2", {}, "Sync"), kv(n.sync)),
    h("section.card", {}, h("h2", {}, "Rejected input"), kv(n.rejected && n.rejected.by_reason),
      h("table", {}, (n.rejected && n.rejected.recent || []).map((r) => h("tr", {}, h("td", {}, when(r.at)), h("td", {}, r.reason), h("td.mono", {}, r.source || ""))))));
}

// The node's Nostr relays with their source and state; add and remove (admin token).
function relayCard() {
  const card = h("section.card", { "data-testid": "relays" }, h("h2", {}, "Relays"));
  const body = h("div"), out = h("div");
  const url = h("input", { placeholder: "wss://relay.example.org", "aria-label": "relay URL" });
  const change = (method) => async () => {
    clear(out); await ensureToken(out);
    try { const r = await api("/relays", { method, body: { url: url.value.trim() } }); out.append(h("p", {}, r.url + ": " + r.message)); fill(r.relays); }
    catch (e) { if (e.status === 401) localStorage.removeItem("atoll-token"); out.append(errorBox(e)); }
  };
  const fill = (relays) => {
    clear(body).append(h("table", {}, h("tr", {}, h("th", {}, "url"), h("th", {}, "source"), h("th", {}, "state"), h("th", {}, "events"), h("th", {}, "cursor"), h("th", {}, "")),
      (relays || []).map((r) => h("tr", {}, h("td.mono", {}, r.url), h("td", {}, r.reason),
        h("td", { title: r.last_error || undefined }, r.state + (r.last_error && r.state !== "connected" ? " (" + r.last_error + ")" : "")),
        h("td", {}, r.events), h("td", {}, when(r.cursor)),
        h("td", {}, r.source && r.source.kind === "embedded" ? null : h("button.secondary", { onclick: () => { url.value = r.url; change(r.state === "disabled" ? "POST" : "DELETE")(); } }, r.state === "disabled" ? "enable" : "remove"))))));
  };
  card.append(body, h("div.toolbar", {}, url, h("button", { onclick: change("POST") }, "add"), h("button.secondary", { onclick: change("DELETE") }, "remove")), out);
  api("/relays").then((r) => fill(r.relays)).catch((e) => body.append(errorBox(e)));
  return card;
}
