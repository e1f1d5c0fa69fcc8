// atoll marketplace UI: install options (host ports, reusing or deleting the data an earlier
// install left) and uninstall with the data choice, and the data kept from uninstalled apps.
// Classic script sharing globals with the others (load order in index.html); every network
// string goes in with textContent.
"use strict";

// "volumes data (12.0 KiB); secrets notebook-key", or "" when there is nothing.
function dataWords(d) {
  if (!d) return "";
  const parts = [];
  if ((d.volumes || []).length) parts.push("volumes " + d.volumes.map((v) => v.name + " (" + bytes(v.bytes) + ")").join(", "));
  if ((d.secrets || []).length) parts.push("secrets " + d.secrets.join(", "));
  return parts.join("; ");
}

// One field per published port, prefilled with the manifest's host port. `values()` gives
// the ports that differ, by container port, or the error of a field that is not a port.
function portsForm(manifest) {
  const ports = ((manifest && manifest.containers) || []).flatMap((c) => (c.ports || []).map((p) => ({ c: c.name, p })));
  if (!ports.length) return null;
  const fields = ports.map(({ c, p }) => {
    const input = h("input", { id: "port-" + p.container, type: "number", min: 1, max: 65535, value: p.host,
      "aria-label": "host port for container port " + p.container, "data-testid": "port-input" });
    input.dataset.container = String(p.container);
    return { c, p, input };
  });
  const box = h("section.card.settings", { "data-testid": "install-ports" },
    h("h2", {}, "Ports"),
    h("p.muted", {}, "Published on 127.0.0.1. Change a host port when another program uses it; kept for updates and restarts."),
    fields.map(({ c, p, input }) => h("div.setting", {},
      h("label", { for: "port-" + p.container }, "host port for " + c + " port " + p.container + "/" + p.protocol + (p.web ? " (web)" : "")), input)));
  box.values = () => {
    const out = {};
    for (const { p, input } of fields) {
      const n = Number(input.value);
      if (!Number.isInteger(n) || n < 1 || n > 65535) { input.focus(); return { error: "Host port for container port " + p.container + " must be a number from 1 to 65535." }; }
      if (n !== p.host) out[String(p.container)] = n;
    }
    return { ports: out };
  };
  return box;
}

// Before a reinstall: the data an earlier install left is reused (volumes and generated
// secrets) unless the user starts fresh, which deletes it first.
function keptDataOffer(kept) {
  if (!kept) return null;
  const fresh = h("input", { type: "checkbox", id: "start-fresh", "data-testid": "start-fresh" });
  const box = h("section.card.warnings", { "data-testid": "reuse-data", role: "note" },
    h("strong", {}, "An earlier install left data here: " + dataWords(kept) + "."),
    h("p", {}, "Installing reuses it, with the secrets generated then."),
    h("label", { for: "start-fresh" }, fresh, " Start fresh instead: delete that data first (cannot be undone)"));
  box.values = () => (fresh.checked ? { fresh: true } : {});
  return box;
}

// The install dialog's parts as one: `values()` merges what each gives, or the first error.
function installForm(parts) {
  const live = parts.filter(Boolean);
  if (!live.length) return null;
  return {
    values() {
      const out = {};
      for (const p of live) {
        const v = p.values();
        if (v.error) return v;
        Object.assign(out, v);
      }
      return out;
    },
  };
}

// Uninstall asks first, saying what data the app has; keeping it is the default.
function uninstallButton(a, progress) {
  const d = a.data;
  const words = dataWords(d);
  const keep = h("input", { type: "radio", name: "data-" + a.ref, value: "keep", checked: true, "data-testid": "uninstall-keep" });
  const purge = h("input", { type: "radio", name: "data-" + a.ref, value: "purge", "data-testid": "uninstall-purge" });
  const dialog = h("div.card.confirm", { hidden: true, role: "dialog", "data-testid": "uninstall-dialog" },
    h("strong", {}, "Uninstall " + a.name + "?"),
    words
      ? h("div", {}, h("p", { "data-testid": "uninstall-data" }, "Its data: " + words + "."),
        h("label", {}, keep, " Keep its data (a reinstall uses it again; delete it later on this page)"), h("br"),
        h("label", {}, purge, " Delete its data too (cannot be undone; its backups stay)"))
      : h("p", { "data-testid": "uninstall-data" }, "It has no data (no volumes, no generated secrets)."),
    h("div.toolbar", {},
      h("button.danger", { "data-testid": "uninstall-confirm", onclick: (ev) => {
        dialog.hidden = true;
        runAction("uninstall", { app: a.ref, purge: !!(words && purge.checked) }, progress, ev.target);
      } }, "Uninstall"),
      h("button.secondary", { "data-testid": "uninstall-cancel", onclick: () => { dialog.hidden = true; } }, "Cancel")));
  const open = h("button.danger", { "data-testid": "uninstall", onclick: () => { dialog.hidden = false; } }, "uninstall");
  return h("span", {}, open, dialog);
}

// The Installed page's list of data kept from uninstalled apps, each with "delete data".
async function keptDataSection(v) {
  let items = [];
  try { items = (await api("/data")).items || []; } catch { return; }
  if (!items.length) return;
  const area = h("div");
  v.append(h("section.card", { "data-testid": "kept-data" }, h("h2", {}, "Data kept from uninstalled apps"),
    h("p.muted", {}, "A reinstall of the app uses it again (and its secrets)."),
    h("table", {}, h("tr", {}, h("th", {}, "app"), h("th", {}, "data"), h("th", {}, "size"), h("th", {}, "")),
      items.map((d) => {
        const confirmBtn = h("button.danger", { hidden: true, "data-testid": "delete-data-confirm", onclick: async () => {
          await ensureToken(area);
          try { await api("/data/" + refPath(d.ref), { method: "DELETE" }); route(); } catch (e) { area.append(errorBox(e)); }
        } }, "really delete");
        return h("tr", { "data-testid": "kept-data-row", "data-ref": d.ref || d.install_name },
          h("td", {}, d.name), h("td", {}, dataWords(d) || "—"), h("td", {}, bytes(d.bytes || 0)),
          h("td", {}, d.ref ? [h("button.secondary", { "data-testid": "delete-data", onclick: (ev) => { ev.target.hidden = true; confirmBtn.hidden = false; } }, "delete data"), confirmBtn] : "owner unknown"));
      })), area));
}
