// atoll marketplace UI: trust, endorsements and warnings. Classic script sharing globals with the others
// (load order in index.html); every network string goes in with textContent.
"use strict";
// --- trust ----------------------------------------------------------------------------------
async function showTrust() {
  setNav("trust");
  const v = clear(view());
  const did = h("input", { placeholder: "did:key:z6Mk…", "aria-label": "publisher DID", "data-testid": "trust-did" });
  const out = h("div", { "data-testid": "trust-result" });
  const act = (name) => h("button" + (name === "block" ? ".danger" : ".secondary"), { "data-testid": "trust-" + name, onclick: async () => {
    clear(out); await ensureToken(out);
    try { await api("/trust/" + name, { method: "POST", body: { did: did.value.trim() } }); showTrust(); }
    catch (e) { if (e.status === 401) localStorage.removeItem("atoll-token"); out.append(errorBox(e)); }
  } }, name);
  v.append(h("h1", {}, "Trust"), h("p.muted", {}, "Pinned publishers are anchors (score 1.0); trust flows from them along signed endorsements. Blocked publishers score 0 and their apps are never installed or updated (no override); apps of theirs already installed keep running until you stop or uninstall them. Unblocking gives back what held before (a pin stays pinned)."),
    h("div.toolbar", {}, did, act("pin"), act("unpin"), act("block"), act("unblock")), out);
  try {
    const list = await api("/trust");
    // A blocked publisher is listed with a button that lifts the block (its pin, if any, is kept).
    const unblock = (p) => h("button.secondary", { "data-testid": "unblock", onclick: async () => {
      clear(out); await ensureToken(out);
      try { await api("/trust/unblock", { method: "POST", body: { did: p.did } }); showTrust(); }
      catch (e) { if (e.status === 401) localStorage.removeItem("atoll-token"); out.append(errorBox(e)); }
    } }, "unblock");
    v.append(h("table", { "data-testid": "trust-list" }, h("tr", {}, h("th", {}, "publisher"), h("th", {}, "score"), h("th", {}, "")),
      list.map((p) => h("tr", { "data-testid": "trust-row", "data-did": p.did, "data-blocked": String(!!p.blocked) },
        h("td", {}, p.name ? h("div", {}, p.name) : null, h("div.mono", {}, p.did)),
        h("td", {}, trustBadge(p), p.pin_kept ? h("span.badge", { "data-testid": "pin-kept", title: "applies again when unblocked" }, "pin kept") : null),
        h("td", {}, h("a", { href: "#/explain/" + enc(p.did) }, "explain"), p.blocked ? [" ", unblock(p)] : null)))));
  } catch (e) { v.append(errorBox(e)); }
}
async function showExplain(did) {
  setNav("trust");
  const v = clear(view());
  try { const x = await api("/trust/" + enc(did) + "/explain"); v.append(h("h1", {}, "Trust of " + shortDid(did)), h("p.mono", {}, did), explanation(x)); }
  catch (e) { v.append(errorBox(e)); }
  v.append(endorsementsCard(did));
}

// --- endorsements: who endorses whom, and the endorse / report form ----------------------
// Before an install or update: the node's typed warnings (same app id from another
// publisher, …), each shown as text.
function installWarnings(a) {
  const list = a.warnings || [];
  if (!list.length) return null;
  return h("section.card.warnings", { "data-testid": "install-warnings", role: "alert" },
    h("strong", {}, "Before you install or update"),
    h("ul", {}, list.map((w) => h("li", { "data-testid": "warning-" + String(w.kind) }, w.message,
      w.other ? h("span", {}, " ", h("a", { href: "#/app/" + refPath(w.other) }, "see the other app")) : null))));
}
// Endorsements a publisher received and gave (weights, reasons, signer names), and a form
// to endorse or report it with a key the node holds (the node signs; admin token).
function endorsementsCard(did) {
  const card = h("section.card", { "data-testid": "endorsements" }, h("h2", {}, "Who endorses whom"));
  const body = h("div"), out = h("div", { "data-testid": "endorse-result" });
  const who = (d, n) => h("span", {}, n ? n + " " : "", h("a.mono", { href: "#/explain/" + enc(d), title: d }, shortDid(d)));
  const row = (r, other, name) => h("tr", { "data-testid": "endorsement-row" },
    h("td", {}, who(other, name)), h("td", {}, (r.weight > 0 ? "+" : "") + Number(r.weight).toFixed(2)),
    h("td", {}, r.kind), h("td", {}, r.reason));
  const table = (rows) => rows.length ? h("table", {}, h("tr", {}, h("th", {}, "publisher"), h("th", {}, "weight"), h("th", {}, "kind"), h("th", {}, "reason")), rows) : h("p.muted", {}, "none");
  const fill = (e) => clear(body).append(
    h("h3", {}, "Received (" + e.received.length + ")"), h("div", { "data-testid": "endorsements-received" }, table(e.received.map((r) => row(r, r.signer, r.signer_name)))),
    h("h3", {}, "Given (" + e.given.length + ")"), h("div", { "data-testid": "endorsements-given" }, table(e.given.map((r) => row(r, r.subject, r.subject_name)))));
  const load = () => api("/trust/" + enc(did) + "/endorsements").then(fill).catch((e) => clear(body).append(errorBox(e)));
  const key = h("select", { "aria-label": "signing key", "data-testid": "endorse-key" });
  const weight = h("input", { type: "number", min: "0", max: "1", step: "0.05", value: "0.8", "aria-label": "weight", "data-testid": "endorse-weight" });
  const reason = h("input", { placeholder: "why (everyone who syncs it sees this)", "aria-label": "reason", "data-testid": "endorse-reason" });
  const send = (sign) => async () => {
    clear(out); await ensureToken(out);
    try {
      const r = await api("/trust/endorse", { method: "POST", body: { key: key.value, did, weight: sign * Number(weight.value), reason: reason.value } });
      out.append(h("p", { "data-testid": "endorse-done" }, (sign > 0 ? "Endorsed" : "Reported") + " with weight " + Number(r.weight).toFixed(2) + " (sequence " + r.sequence + "). Scores are recomputed within seconds."));
      load();
    } catch (e) { if (e.status === 401) localStorage.removeItem("atoll-token"); out.append(errorBox(e)); }
  };
  const form = h("div.toolbar", {}, key, weight, reason,
    h("button", { onclick: send(1), "data-testid": "endorse" }, "endorse"),
    h("button.danger", { onclick: send(-1), "data-testid": "report" }, "report"));
  api("/trust/keys").then((keys) => {
    if (!keys.length) { form.replaceWith(h("p.muted", {}, "This node holds no key to sign with (its home's keys/ directory); use `atoll trust endorse` with your own key.")); return; }
    for (const k of keys) key.append(h("option", { value: k.name }, k.name + " (" + shortDid(k.did) + ")"));
  }).catch((e) => form.replaceWith(errorBox(e)));
  load();
  card.append(body, h("h3", {}, "Endorse or report with a key of this node"), form, out);
  return card;
}
