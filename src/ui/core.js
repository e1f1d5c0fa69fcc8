// atoll marketplace UI. No build step, no framework. Every string that came from the
// network is put in the page with textContent or setAttribute, never as HTML.
"use strict";

const API = "/api/v1";
// The box the page being rendered fills. route() puts a fresh one in #view each time, so a
// render overtaken by a newer one (a second route() while the first awaits the API) fills
// a box no longer shown instead of adding its content twice.
const view = () => document.getElementById("view").firstElementChild || document.getElementById("view");

// --- DOM helper: h("div.card", {attrs}, children...) -----------------------------------
const SAFE_ATTRS = new Set(["class", "href", "src", "alt", "title", "type", "name", "value",
  "placeholder", "id", "role", "aria-label", "data-testid", "target", "rel", "min", "max",
  "step", "for", "disabled", "selected", "checked", "hidden", "data-badge", "data-reason", "data-ref"]);
for (const a of ["data-did", "data-blocked"]) SAFE_ATTRS.add(a); // the Trust page's rows
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
