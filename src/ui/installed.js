// atoll marketplace UI: installed apps and their backups. Classic script sharing globals with the others
// (load order in index.html); every network string goes in with textContent.
"use strict";
// --- installed ----------------------------------------------------------------------------
async function showInstalled() {
  setNav("installed");
  const v = clear(view());
  const area = h("div");
  v.append(h("h1", {}, "Installed apps"), area);
  let list;
  try { list = await api("/installed"); } catch (e) { v.append(errorBox(e)); return; }
  const cards = new Map();
  const banner = h("p.card.notice", { "data-testid": "installed-new", role: "status", hidden: true });
  v.append(banner);
  if (!list.length) {
    v.append(h("div.empty", {}, "Nothing installed yet. Pick an app in the Marketplace."));
    keepLive(cards, banner);
    await keptDataSection(v);
    return;
  }
  const allProgress = h("div", { "data-testid": "update-all-progress" });
  v.append(updateAllButton(list, allProgress) || "", allProgress);
  for (const a of list) {
    const progress = h("div");
    const backups = h("div", { hidden: true, "data-testid": "backup-panel" });
    const logs = logsPanel(a);
    const creds = credentialsPanel(a);
    const usage = usagePanel(a);
    const act = (name, extra) => h("button" + (name === "uninstall" ? ".danger" : ".secondary"),
      { "data-testid": name, onclick: (ev) => runAction(name, Object.assign({ app: a.ref }, extra || {}), progress, ev.target) }, name);
    const parts = liveParts(a, act);
    cards.set(a.ref, { parts, usage });
    v.append(h("section.card", { "data-testid": "installed-app", "data-ref": a.ref },
      h("h2", {}, a.name, " ", parts.state, " ", parts.health,
        a.update_available ? h("span.badge.info", { "data-testid": "update-available" }, "update " + a.update_available + " available") : null,
        a.update_available ? guardBadges(a.badges) : null),
      h("p.muted", { "data-testid": "installed-version" }, "installed " + (a.installed_version || a.version) +
        (a.available_version ? " · " + a.available_version + " available" : " · up to date"), parts.wantedText),
      failedUpdate(a, progress), autoUpdateSelect(a),
      a.publisher_blocked ? h("p.card.warnings", { "data-testid": "publisher-blocked", role: "alert" },
        h("span.badge.bad", {}, "publisher blocked"), " ", a.publisher_blocked_message) : null,
      a.web_url ? h("p", {}, h("a", { href: a.web_url, target: "_blank", rel: "noopener", "data-testid": "open-app" }, "Open " + a.web_url)) : null,
      parts.containers, parts.lastError,
      h("div.toolbar", {}, parts.control, act("restart"),
        h("button.secondary", { "data-testid": "backups", onclick: () => toggleBackups(a, backups, progress) }, "backups"),
        a.update_available ? (a.update_guard && !a.update_guard.allowed
          ? guardedAction("update", "update", a.ref, a.update_guard, progress) : updateButton(a, progress)) : null, uninstallButton(a, progress),
        h("button.secondary", { "data-testid": "logs-button", onclick: () => logs.toggle() }, "logs"),
        h("button.secondary", { "data-testid": "usage-button", onclick: () => usage.toggle() }, "usage"),
        h("button.secondary", { "data-testid": "show-credentials", onclick: () => creds.toggle() }, "show credentials")),
      progress, backups, usage.panel, creds, logs));
  }
  keepLive(cards, banner);
  await keptDataSection(v);
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
