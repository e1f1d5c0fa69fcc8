// atoll marketplace UI. No build step, no framework. Every string that came from the
// network is put in the page with textContent or setAttribute, never as HTML.
"use strict";

const API = "/api/v1";
const view = () => document.getElementById("view");

// --- DOM helper: h("div.card", {attrs}, children...) -----------------------------------
const SAFE_ATTRS = new Set(["class", "href", "src", "alt", "title", "type", "name", "value",
  "placeholder", "id", "role", "aria-label", "data-testid", "target", "rel", "min", "max",
  "step", "for", "disabled", "selected", "checked", "hidden", "data-badge", "data-reason", "data-ref"]);
function h(tag, attrs, ...kids) {
  const [name, ...classes] = tag.split(".");
  const el = document.createElement(name);
  if (classes.length) el.className = classes.join(" ");
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) { el.addEventListener(k.slice(2), v); continue; }
    if (!SAFE_ATTRS.has(k)) throw new Error("attribute not allowed: " + k);
    if ((k === "href" || k === "src") && !safeUrl(String(v))) continue;
    el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const kid of kids.flat(Infinity)) {
    if (kid === undefined || kid === null || kid === false) continue;
    el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return el;
}
// Only our own paths, fragments, and http(s) links; never javascript:, data:, etc.
function safeUrl(u) {
  if (u.startsWith("#") || (u.startsWith("/") && !u.startsWith("//"))) return true;
  try { const p = new URL(u); return p.protocol === "https:" || p.protocol === "http:"; }
  catch { return false; }
}
function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); return el; }

// --- API ----------------------------------------------------------------------------
function token() { return localStorage.getItem("atoll-token") || ""; }
(function takeTokenFromFragment() {
  const m = location.hash.match(/[#&]token=([A-Za-z0-9_-]+)/);
  if (m) {
    localStorage.setItem("atoll-token", m[1]);
    history.replaceState(null, "", location.pathname + "#/");
  }
})();

class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error && body.error.message) || ("HTTP " + status));
    this.status = status; this.code = body && body.error && body.error.code;
  }
}
async function api(path, opts = {}) {
  const headers = { "Accept": "application/json" };
  if (opts.body !== undefined) headers["Content-Type"] = "application/json";
  if (opts.method && opts.method !== "GET") headers["Authorization"] = "Bearer " + token();
  const res = await fetch(API + path, {
    method: opts.method || "GET", headers,
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
  });
  let body = null;
  try { body = await res.json(); } catch { body = null; }
  if (!res.ok) throw new ApiError(res.status, body);
  return body;
}
const enc = encodeURIComponent;
const refPath = (ref) => ref.split("/").map(enc).join("/");

// --- small views ----------------------------------------------------------------------
function trustBadge(t) {
  if (!t) return h("span.badge", {}, "trust ?");
  if (t.blocked) return h("span.badge.bad", { title: "blocked by this node" }, "blocked");
  const pct = Math.round((t.score || 0) * 100);
  const cls = t.pinned ? "ok" : pct >= 50 ? "ok" : pct > 0 ? "warn" : "bad";
  return h("span.badge." + cls, { title: "trust score " + (t.score || 0).toFixed(3) },
    (t.pinned ? "pinned · " : "") + "trust " + pct + "%");
}
function shortDid(did) { return did && did.length > 24 ? did.slice(0, 16) + "…" + did.slice(-6) : did; }
function icon(app, big) {
  return h("img.icon" + (big ? ".big" : ""), { src: app.icon_url || undefined, alt: "" });
}
function errorBox(e) { return h("p.error", { role: "alert" }, "Error: " + (e && e.message || e)); }
function when(ts) { return ts ? new Date(ts * 1000).toLocaleString() : "—"; }

function setNav(name) {
  document.querySelectorAll("[data-nav]").forEach((a) =>
    a.classList.toggle("active", a.dataset.nav === name));
}

// --- marketplace ----------------------------------------------------------------------
const market = { q: "", category: "", min_trust: "", sort: "trust", page: 1 };
async function showMarket() {
  setNav("market");
  const v = clear(view());
  const q = h("input", { type: "search", placeholder: "Search apps, publishers, categories",
    value: market.q, "aria-label": "search", "data-testid": "search" });
  const cat = h("select", { "aria-label": "category", "data-testid": "category" },
    h("option", { value: "" }, "All categories"));
  const trust = h("select", { "aria-label": "minimum trust", "data-testid": "min-trust" },
    h("option", { value: "" }, "Any trust"), h("option", { value: "0.01" }, "Trusted at all"),
    h("option", { value: "0.5" }, "Trust ≥ 50%"), h("option", { value: "0.9" }, "Trust ≥ 90%"));
  trust.value = market.min_trust;
  const sort = h("select", { "aria-label": "sort" }, h("option", { value: "trust" }, "Most trusted"),
    h("option", { value: "recent" }, "Newest"), h("option", { value: "name" }, "Name"));
  sort.value = market.sort;
  const grid = h("div.grid", { "data-testid": "app-grid" });
  const pager = h("div.pager");
  v.append(h("div.toolbar", {}, q, cat, trust, sort), grid, pager);
  let timer;
  q.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(() => { market.q = q.value; market.page = 1; load(); }, 200); });
  for (const [el, key] of [[cat, "category"], [trust, "min_trust"], [sort, "sort"]]) {
    el.addEventListener("change", () => { market[key] = el.value; market.page = 1; load(); });
  }
  api("/categories").then((cats) => {
    for (const c of cats) cat.append(h("option", { value: c.name }, c.name + " (" + c.count + ")"));
    cat.value = market.category;
  }).catch(() => {});
  async function load() {
    const params = new URLSearchParams({ sort: market.sort, page: market.page, per_page: 24 });
    if (market.q) params.set("q", market.q);
    if (market.category) params.set("category", market.category);
    if (market.min_trust) params.set("min_trust", market.min_trust);
    try {
      const res = await api("/apps?" + params);
      clear(grid); clear(pager);
      if (!res.items.length) grid.append(h("div.empty", {}, "No apps match. The node keeps syncing; new apps appear here."));
      for (const a of res.items) grid.append(appCard(a));
      if (market.page > 1 || res.has_more) {
        pager.append(h("button.secondary", { disabled: market.page <= 1, onclick: () => { market.page--; load(); } }, "Previous"),
          h("span.muted", {}, "page " + market.page),
          h("button.secondary", { disabled: !res.has_more, onclick: () => { market.page++; load(); } }, "Next"));
      }
    } catch (e) { clear(grid).append(errorBox(e)); }
  }
  load();
}
function appCard(a) {
  return h("a.card.app-card", { href: "#/app/" + refPath(a.ref), "data-testid": "app-card" },
    icon(a),
    h("div", {},
      h("h3", {}, a.name),
      h("div.desc", {}, a.description),
      h("div.badges", {}, trustBadge(a.trust), h("span.badge", {}, "v" + a.version),
        a.installed ? h("span.badge.info", {}, "installed") : null,
        guardBadges(a.badges),
        a.demo ? h("span.badge", { "data-testid": "demo-badge" }, "demo") : null)));
}

// --- the install/update guard: badges before the click, refusals, audited overrides ----
// Badge name → [style, what it means]. "blocked" is shown by the trust badge.
const GUARD_BADGES = {
  stale: ["warn", "past its signed expiry: the publisher's feed may be frozen; installed only with an override"],
  yanked: ["bad", "withdrawn by its publisher: never installed"],
  equivocated: ["bad", "its publisher signed two different entries with one sequence: never installed"],
  "below-threshold": ["warn", "its publisher's trust is below this node's threshold; installed only with an override"],
  "retired-key": ["bad", "signed by a key its publisher retired: never installed"],
  rotated: ["warn", "its publisher's key rotated: see the key history before installing or updating"],
};
function guardBadges(badges) {
  return (badges || []).filter((b) => b !== "blocked").map((b) => {
    const [cls, title] = Object.prototype.hasOwnProperty.call(GUARD_BADGES, b) ? GUARD_BADGES[b] : ["warn", b];
    return h("span.badge." + cls, { title, "data-testid": "badge", "data-badge": b }, b);
  });
}
const OVERRIDE_FIELDS = new Set(["override_stale", "override_trust"]);
// The install or update button as the node's guard allows it: a plain button; a disabled
// one with the reasons when something cannot be overridden; or "… anyway" opening an
// explicit confirmation with a note (kept in the node's audit log with the override).
function guardedAction(action, label, ref, guard, progress, settings, extra) {
  const body = Object.assign({ app: ref }, extra || {});
  const go = (b) => (ev) => {
    // The install dialog's setting fields, read at the click (a required one left empty
    // stops here, naming it).
    if (settings) {
      const values = settings.values();
      if (values.error) { clear(progress).append(h("p.error", { "data-testid": "settings-error" }, values.error)); return; }
      b = Object.assign({}, b, { settings: values.settings });
    }
    return runAction(action, b, progress, ev.target);
  };
  if (!guard || guard.allowed) return h("button", { "data-testid": action, onclick: go(body) }, label);
  const reasons = () => h("ul.guard-reasons", { "data-testid": "guard-reasons" },
    (guard.reasons || []).map((r) => h("li", { "data-reason": r.reason }, r.message)));
  if (!guard.overridable) {
    return h("div.guard", { "data-testid": action + "-guard" },
      h("button", { "data-testid": action, disabled: true, title: (guard.reasons || []).map((r) => r.message).join("; ") }, label),
      h("p.error", { "data-testid": "guard-refused" }, "This node refuses to " + action + " this version:"), reasons());
  }
  const note = h("input", { placeholder: "Why (kept in the audit log)", "aria-label": "override note", "data-testid": "override-note" });
  const confirmBtn = h("button.danger", { "data-testid": "confirm-override", onclick: (ev) => {
    const b = Object.assign({}, body);
    for (const o of guard.overrides || []) if (OVERRIDE_FIELDS.has(o)) b[o] = true;
    if (note.value.trim()) b.note = note.value.trim();
    dialog.hidden = true;
    return go(b)(ev);
  } }, label + " anyway");
  const dialog = h("div.card.confirm", { hidden: true, role: "dialog", "data-testid": "override-dialog" },
    h("strong", {}, "This node's guard refuses to " + action + " this version:"), reasons(),
    h("p", {}, "Only these reasons can be overridden. Going ahead is written to the node's audit log, with your note."),
    note, " ", confirmBtn, " ", h("button.secondary", { onclick: () => { dialog.hidden = true; } }, "Cancel"));
  return h("div.guard", { "data-testid": action + "-guard" },
    h("button.secondary", { "data-testid": action, onclick: () => { dialog.hidden = false; note.focus(); } }, label + " anyway…"),
    h("p.muted", {}, (guard.reasons || []).map((r) => r.reason).join(", ") + ": needs an explicit override"), dialog);
}

// --- key rotation (the publisher's key history; void versions) -------------------------
function versionState(x) {
  if (x.void) return h("td", { "data-testid": "void-version", title: x.void }, "void: " + x.void);
  return h("td", {}, x.yanked ? "yanked" : x.stale ? "stale" : "ok");
}

function keyHistory(k) {
  if (!k) return null;
  return h("div", { "data-testid": "key-history" }, h("h3", {}, "Keys"),
    h("p.mono", {}, "index " + k.index + ": " + k.current_key),
    (k.rotations || []).length === 0 ? h("p.muted", {}, "Never rotated; the next key is committed.") :
      h("ul", {}, k.rotations.map((r) => h("li", {}, "rotation " + r.index + " (" + when(r.created_at) + "): " + r.key,
        (r.voided || []).length ? h("ul", {}, r.voided.map((v) => h("li", {},
          "void " + v.kind + (v.subject ? " " + v.subject : "") + " #" + v.sequence + ": " + v.reason))) : null))));
}

// --- install settings and credentials shown once ----------------------------------------
// The manifest's settings as fields: defaults prefilled, required ones marked. `values()`
// gives the settings to send, or the error of a required field left empty.
function settingsForm(settings) {
  if (!settings || !settings.length) return null;
  const fields = settings.map((s) => {
    const required = s.default === undefined || s.default === null;
    const input = h("input", { id: "setting-" + s.name, name: s.name, value: required ? "" : s.default,
      placeholder: required ? "required" : "", "aria-label": s.name, "data-testid": "setting-input" });
    input.required = required;
    return { s, input, required };
  });
  const box = h("section.card.settings", { "data-testid": "install-settings" },
    h("h2", {}, "Settings"),
    h("p.muted", {}, "Chosen now and kept with the install; an update keeps them."),
    fields.map(({ s, input, required }) => h("div.setting", {},
      h("label", { for: "setting-" + s.name }, s.name, required ? h("span.required", { title: "required" }, " (required)") : null),
      input, s.description ? h("p.muted", {}, s.description) : null)));
  box.values = () => {
    const out = {};
    for (const { s, input, required } of fields) {
      if (required && !input.value) { input.focus(); return { error: "Setting " + s.name + " is required." }; }
      // Only what differs from the default is sent: a default the next version changes applies.
      if (required || input.value !== s.default) out[s.name] = input.value;
    }
    return { settings: out };
  };
  return box;
}

function copyButton(value) {
  const b = h("button.secondary", { "data-testid": "copy-credential", onclick: async () => {
    try { await navigator.clipboard.writeText(value); b.textContent = "Copied"; }
    catch { b.textContent = "Select it and copy"; }
  } }, "Copy");
  return b;
}

// The credentials a finished install generated, read once from the node (admin token) and
// kept on screen, outside the re-rendered view, until the user dismisses them.
async function showCredentials(jobId, notice) {
  const area = document.getElementById("notices");
  const generated = (notice && notice.generated) || [];
  const kept = (notice && notice.kept) || [];
  if (!generated.length && !kept.length) return;
  const box = h("section.card.credentials", { role: "alert", "data-testid": "credentials" });
  const dismiss = h("button.secondary", { "data-testid": "dismiss-credentials", onclick: () => box.remove() }, "Dismiss");
  if (generated.length) {
    box.append(h("strong", {}, "Copy these credentials now: they are not shown again."));
    try {
      const r = await api("/jobs/" + enc(jobId) + "/credentials", { method: "POST", body: {} });
      for (const c of r.credentials || []) {
        box.append(h("div.credential", { "data-testid": "credential" },
          h("span", {}, c.name + " (container " + c.container + ")"),
          h("code", { "data-testid": "credential-value" }, c.value), copyButton(c.value)));
      }
    } catch (e) { box.append(h("p.error", {}, "The credentials could not be read: " + e.message)); }
  }
  if (kept.length) {
    box.append(h("p", { "data-testid": "credentials-kept" },
      "Kept from the earlier install, not shown again: " + kept.join(", ") + "."));
  }
  box.append(dismiss);
  area.append(box);
}

// --- app page -------------------------------------------------------------------------
async function showApp(ref) {
  setNav("market");
  const v = clear(view());
  let a;
  try { a = await api("/apps/" + refPath(ref)); } catch (e) { v.append(errorBox(e)); return; }
  const progress = h("div", { "data-testid": "progress-area" });
  const actions = h("div.toolbar");
  const settings = a.installed ? null : settingsForm(a.manifest && a.manifest.settings);
  if (a.installed) {
    actions.append(h("a", { href: "#/installed" }, "Installed: manage it on the Installed page"));
    if (a.web_url) actions.append(h("a", { href: a.web_url, target: "_blank", rel: "noopener", "data-testid": "open-app" }, "Open app"));
  } else {
    // Dependencies: what else the install brings (installed first, on this confirm), or
    // why it cannot be installed at all.
    let plan = null;
    try { plan = await api("/apps/" + refPath(ref) + "/plan"); } catch { plan = null; }
    const deps = plan && plan.ok ? plan.dependencies || [] : [];
    if (plan && plan.ok === false) {
      actions.append(h("div.card.warnings", { "data-testid": "dependency-error", role: "alert" },
        h("strong", {}, "This app cannot be installed: "), plan.error));
    } else {
      if (deps.length) {
        actions.append(h("div.card", { "data-testid": "dependency-offer" },
          h("strong", {}, "Installing " + a.name + " also installs, first:"),
          h("ul", {}, deps.map((d) => h("li", { "data-testid": "dependency", "data-ref": d.ref },
            "also installs " + d.app + " " + d.version + " by " + (d.publisher_name || d.publisher) +
            " (trust " + Number(d.trust).toFixed(2) + ")")))));
      }
      actions.append(guardedAction("install", deps.length ? "Install with " + deps.length + " dependenc" + (deps.length === 1 ? "y" : "ies") : "Install",
        a.ref, a.guard, progress, settings, deps.length ? { with_deps: true } : null));
    }
  }
  const perms = a.permissions || {};
  const permRows = [
    ["Ports on 127.0.0.1", (perms.ports || []).map((p) => p.host + "→" + p.container + "/" + p.protocol + (p.web ? " (web)" : "")).join(", ") || "none"],
    ["Data volumes", (perms.volumes || []).join(", ") || "none"],
    ["Extra capabilities", (perms.capabilities || []).join(", ") || "none"],
    ["Generated secrets", (perms.secrets || []).join(", ") || "none"],
    ["Config files (read-only)", (perms.files || []).join(", ") || "none"],
    ["Settings", (perms.settings || []).join(", ") || "none"],
    ["Containers", (perms.containers || []).join(", ")],
    ["Read-only root filesystem", perms.read_only ? "yes" : "no"],
  ];
  v.append(
    h("div.detail-head", {}, icon(a, true),
      h("div", {}, h("h1", { "data-testid": "app-name" }, a.name),
        h("div.muted", {}, "version " + a.version + " · " + (a.categories || []).join(", ")),
        h("div.badges", {}, trustBadge(a.trust),
          a.signature && a.signature.valid ? h("span.badge.ok", {}, "signature verified") : h("span.badge.bad", {}, "signature not verified"),
          guardBadges(a.badges),
          a.demo ? h("span.badge", {}, "demo app") : null))),
    installWarnings(a) || "", settings || "", actions, progress,
    h("div.cols", {},
      h("div", {},
        h("section.card", {}, h("h2", {}, "About"), h("p", { "data-testid": "app-description" }, a.description),
          a.license ? h("p.muted", {}, "License: " + a.license) : null,
          h("ul", {}, Object.entries(a.links || {}).map(([k, u]) => h("li", {}, h("a", { href: u, rel: "noopener nofollow", target: "_blank" }, k))))),
        h("section.card", {}, h("h2", {}, "What it asks for"),
          h("table", {}, permRows.map(([k, val]) => h("tr", {}, h("th", {}, k), h("td", {}, val))))),
        h("section.card", {}, h("h2", {}, "Versions"),
          h("table", {}, h("tr", {}, h("th", {}, "version"), h("th", {}, "sequence"), h("th", {}, "published"), h("th", {}, "state")),
            (a.versions || []).map((x) => h("tr", {}, h("td", {}, x.version), h("td.mono", {}, x.sequence),
              h("td", {}, when(x.published_at)), versionState(x)))))),
      h("div", {},
        h("section.card", {}, h("h2", {}, "Publisher"),
          a.publisher_name ? h("p", {}, a.publisher_name) : null,
          h("p.mono", { "data-testid": "publisher-did" }, a.publisher),
          h("p", {}, h("a", { href: "#/explain/" + enc(a.publisher), "data-testid": "publisher-endorsements" }, "Who endorses this publisher; endorse or report it")),
          h("h3", {}, "Why this trust score"), explanation(a.trust_explanation),
          keyHistory(a.key_history)),
        h("section.card", {}, h("h2", {}, "Signature and sources"),
          h("p", {}, a.signature && a.signature.valid ? "Signed by the publisher's DID; checked by this node." : "Not verified."),
          h("p.mono", {}, "manifest " + (a.manifest_hash || "")),
          h("p", {}, "Origin: ", h("span.mono", {}, (a.origin && a.origin.node_id) || "—")),
          h("p", {}, "Mirrors: " + ((a.mirrors || []).length || "none known"))))));
}
function explanation(x) {
  if (!x) return h("p.muted", {}, "No explanation available.");
  return h("div", { "data-testid": "trust-explanation" },
    h("p", {}, "Score " + (x.score || 0).toFixed(2) + (x.summary ? ": " + x.summary : "")),
    h("ul.trust-path", {}, (x.path || []).map((step) => h("li", {}, step))),
    (x.penalties || []).length ? h("div", {}, h("strong", {}, "Penalties"), h("ul", {}, x.penalties.map((p) => h("li", {}, p)))) : null);
}

// --- actions with live progress ----------------------------------------------------------
async function ensureToken(container) {
  if (token()) return true;
  const form = document.getElementById("token-dialog").content.firstElementChild.cloneNode(true);
  container.append(form);
  return new Promise((resolve) => form.addEventListener("submit", (ev) => {
    ev.preventDefault(); localStorage.setItem("atoll-token", form.token.value.trim()); form.remove(); resolve(true);
  }));
}
async function runAction(action, body, area, button) {
  return runJob(action, "/actions/" + action, body, area, button);
}
// Start a job (POST path) and follow its progress in `area` until it ends.
async function runJob(action, path, body, area, button) {
  clear(area);
  await ensureToken(area);
  if (button) button.disabled = true;
  const bar = h("div.progress", { role: "progressbar" }, h("div"));
  const msg = h("p", { "data-testid": "progress-message" }, "Starting " + action + "…");
  area.append(h("div.card", {}, h("strong", {}, action), bar, msg));
  let job;
  try { job = await api(path, { method: "POST", body }); }
  catch (e) {
    if (e.status === 401) localStorage.removeItem("atoll-token");
    bar.classList.add("failed"); msg.textContent = "Failed: " + e.message; if (button) button.disabled = false; return;
  }
  return new Promise((resolve) => {
    const es = new EventSource(API + "/jobs/" + enc(job.job) + "/events");
    es.onmessage = (ev) => {
      let p; try { p = JSON.parse(ev.data); } catch { return; }
      bar.firstChild.style.width = Math.max(0, Math.min(100, p.percent || 0)) + "%";
      // A job installing dependencies first names the app of each step.
      const app = p.app ? p.app.split("/").pop() + ": " : "";
      msg.textContent = app + (p.stage ? p.stage + ": " : "") + (p.message || "");
      if (p.app) msg.dataset.app = p.app;
      msg.dataset.stage = p.stage || "";
      msg.dataset.percent = String(p.percent || 0);
      if (p.fetch) {
        // One blob's transfer: bytes held of its total, the source and the path.
        msg.dataset.fetched = String(p.fetch.fetched);
        msg.dataset.total = String(p.fetch.total);
        msg.dataset.fetchState = p.fetch.state || "";
        msg.dataset.source = p.fetch.source || "";
        msg.dataset.path = p.fetch.path || "";
      }
      if (p.done) {
        es.close();
        if (p.error) { bar.classList.add("failed"); msg.textContent = "Failed: " + p.error; }
        else { bar.classList.add("done"); msg.dataset.state = "done"; if (p.message) msg.textContent = p.message; }
        if (button) button.disabled = false;
        const shown = p.credentials ? showCredentials(job.job, p.credentials) : Promise.resolve();
        shown.finally(() => { resolve(p); setTimeout(route, 600); });
      }
    };
    es.onerror = () => { /* EventSource reconnects by itself; the job replays its events */ };
  });
}

// --- installed ----------------------------------------------------------------------------
async function showInstalled() {
  setNav("installed");
  const v = clear(view());
  const area = h("div");
  v.append(h("h1", {}, "Installed apps"), area);
  let list;
  try { list = await api("/installed"); } catch (e) { v.append(errorBox(e)); return; }
  if (!list.length) { v.append(h("div.empty", {}, "Nothing installed yet. Pick an app in the Marketplace.")); return; }
  for (const a of list) {
    const progress = h("div");
    const backups = h("div", { hidden: true, "data-testid": "backup-panel" });
    const logs = h("pre.logs", { hidden: true });
    const act = (name, extra) => h("button" + (name === "uninstall" ? ".danger" : ".secondary"),
      { "data-testid": name, onclick: (ev) => runAction(name, Object.assign({ app: a.ref }, extra || {}), progress, ev.target) }, name);
    v.append(h("section.card", { "data-testid": "installed-app" },
      h("h2", {}, a.name, " ", h("span.badge" + (a.state === "running" ? ".ok" : ".warn"), { "data-testid": "state" }, a.state),
        " ", a.health ? h("span.badge" + (a.health === "healthy" ? ".ok" : ".warn"), {}, a.health) : null,
        a.update_available ? h("span.badge.info", {}, "update " + a.update_available + " available") : null,
        a.update_available ? guardBadges(a.badges) : null),
      h("p.muted", {}, "version " + a.version + (a.wanted ? " · wanted " + a.wanted : "")),
      a.web_url ? h("p", {}, h("a", { href: a.web_url, target: "_blank", rel: "noopener", "data-testid": "open-app" }, "Open " + a.web_url)) : null,
      h("div.toolbar", {}, a.wanted === "stopped" ? act("start") : act("stop"), act("restart"),
        h("button.secondary", { "data-testid": "backups", onclick: () => toggleBackups(a, backups, progress) }, "backups"),
        a.update_available ? guardedAction("update", "update", a.ref, a.update_guard, progress) : null, act("uninstall"),
        h("button.secondary", { onclick: async () => {
          logs.hidden = !logs.hidden;
          if (!logs.hidden) { try { const l = await api("/installed/" + refPath(a.ref) + "/logs?tail=200"); logs.textContent = l.lines.join("\n"); } catch (e) { logs.textContent = e.message; } }
        } }, "logs")),
      progress, backups, logs));
  }
  await leftBackups(v, area);
}

// --- backups ------------------------------------------------------------------------------
function bytes(n) { return n < 1024 ? n + " B" : n < 1048576 ? (n / 1024).toFixed(1) + " KiB" : (n / 1048576).toFixed(1) + " MiB"; }
async function toggleBackups(a, panel, progress) {
  panel.hidden = !panel.hidden;
  if (!panel.hidden) await renderBackups(panel, progress, (b) => b.source === a.ref, a);
}
// The backups `keep` selects, with restore (confirming what it replaces), delete and export.
async function renderBackups(panel, progress, keep, app) {
  clear(panel);
  let list;
  try { list = (await api("/backups")).items.filter(keep); } catch (e) { panel.append(errorBox(e)); return; }
  const refresh = () => renderBackups(panel, progress, keep, app);
  if (app) panel.append(h("div.toolbar", {}, h("button", { "data-testid": "backup-now", onclick: async (ev) => {
    await runJob("backup", "/backups", { app: app.ref }, progress, ev.target); refresh();
  } }, "back up now")));
  if (!list.length) { panel.append(h("p.muted", {}, "No backups yet.")); return; }
  panel.append(h("table", {}, h("tr", {}, h("th", {}, "made"), h("th", {}, "why"), h("th", {}, "version"), h("th", {}, "data"), h("th", {}, "")),
    list.map((b) => h("tr", { "data-testid": "backup-row" },
      h("td", {}, when(b.created_at)), h("td", {}, b.reason), h("td", {}, b.version),
      h("td", {}, b.files + " files, " + bytes(b.bytes)),
      h("td", {},
        h("button.secondary", { "data-testid": "restore", onclick: () => confirmRestore(b, panel, progress, refresh) }, "restore"),
        h("button.secondary", { "data-testid": "export", onclick: () => exportBackup(b, panel) }, "export"),
        h("button.danger", { "data-testid": "delete-backup", onclick: async () => {
          if (!confirm("Delete this backup of " + b.app + "? It cannot be undone.")) return;
          await ensureToken(panel);
          try { await api("/backups/" + enc(b.id), { method: "DELETE" }); refresh(); } catch (e) { panel.append(errorBox(e)); }
        } }, "delete"))))));
}
async function confirmRestore(b, panel, progress, refresh) {
  let x;
  try { x = await api("/backups/" + enc(b.id)); } catch (e) { panel.append(errorBox(e)); return; }
  const c = x.replaces.current;
  const box = h("div.card", { "data-testid": "restore-confirm" },
    h("p", {}, "Restore the backup of " + x.app + " " + x.version + " made " + when(x.created_at) + ": " + x.files + " files, " + bytes(x.bytes) + "."),
    h("p", {}, "It replaces the data there now: " + c.files + " files, " + bytes(c.bytes) + ", last changed " + when(c.newest_mtime) + "."),
    x.replaces.current_is_newer ? h("p.error", {}, "The current data has changes made after this backup.") : null,
    h("p.muted", {}, x.installed ? "The app must be stopped. The data replaced is backed up first (pre-restore)." : "The app is not installed: it is installed from the catalog on this data."),
    h("div.toolbar", {},
      h("button.danger", { "data-testid": "restore-go", onclick: async (ev) => { box.remove(); await runJob("restore", "/backups/" + enc(b.id) + "/restore", {}, progress, ev.target); refresh(); } }, "replace the data"),
      h("button.secondary", { onclick: () => box.remove() }, "cancel")));
  panel.prepend(box);
}
async function exportBackup(b, panel) {
  await ensureToken(panel);
  try {
    const res = await fetch(API + "/backups/" + enc(b.id) + "/export", { method: "POST", headers: { "Authorization": "Bearer " + token() } });
    if (!res.ok) { let body = null; try { body = await res.json(); } catch { body = null; } throw new ApiError(res.status, body); }
    const url = URL.createObjectURL(await res.blob());
    const link = h("a", {});
    link.href = url;
    link.download = "atoll-backup-" + b.app + "-" + b.id.slice(0, 12) + ".tar";
    document.body.append(link); link.click(); link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } catch (e) { panel.append(errorBox(e)); }
}
// Backups whose app is not installed here (uninstalled, or imported from another node).
async function leftBackups(v, area) {
  let list = [];
  try { list = (await api("/backups")).items.filter((b) => !b.installed); } catch { return; }
  if (!list.length) return;
  const panel = h("div", { "data-testid": "left-backups" });
  v.append(h("section.card", {}, h("h2", {}, "Backups of apps not installed"),
    h("p.muted", {}, "Left by an uninstall, or imported. Restoring one installs the app from the catalog on its data."), panel));
  await renderBackups(panel, area, (b) => !b.installed, null);
}

// --- trust ----------------------------------------------------------------------------------
async function showTrust() {
  setNav("trust");
  const v = clear(view());
  const did = h("input", { placeholder: "did:key:z6Mk…", "aria-label": "publisher DID" });
  const out = h("div");
  const act = (name) => h("button" + (name === "block" ? ".danger" : ".secondary"), { onclick: async () => {
    clear(out); await ensureToken(out);
    try { await api("/trust/" + name, { method: "POST", body: { did: did.value.trim() } }); showTrust(); }
    catch (e) { out.append(errorBox(e)); }
  } }, name);
  v.append(h("h1", {}, "Trust"), h("p.muted", {}, "Pinned publishers are anchors (score 1.0); trust flows from them along signed endorsements. Blocked publishers score 0 and are never installed."),
    h("div.toolbar", {}, did, act("pin"), act("unpin"), act("block"), act("unblock")), out);
  try {
    const list = await api("/trust");
    v.append(h("table", {}, h("tr", {}, h("th", {}, "publisher"), h("th", {}, "score"), h("th", {}, "")),
      list.map((p) => h("tr", {}, h("td", {}, p.name ? h("div", {}, p.name) : null, h("div.mono", {}, p.did)),
        h("td", {}, trustBadge(p)),
        h("td", {}, h("a", { href: "#/explain/" + enc(p.did) }, "explain"))))));
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

// --- routing ---------------------------------------------------------------------------------
function route() {
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
    document.getElementById("node-status").textContent = s.apps + " apps · " + s.publishers + " publishers · " + s.relays_connected + " relay(s)";
  } catch { document.getElementById("node-status").textContent = "node unreachable"; }
});
