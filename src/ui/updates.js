// atoll marketplace UI: updates people control. Classic script sharing globals with the others
// (load order in index.html); every network string goes in with textContent.
"use strict";
// --- installed vs available, a failed update, the auto-update policy ----------------------
// "installed v1.0.0" and, when the publisher has a newer one, "v1.1.0 available".
function versionBadges(a) {
  if (!a.installed || !a.installed_version) return [h("span.badge", {}, "v" + a.version)];
  if (a.installed_version === a.version) {
    return [h("span.badge.info", { "data-testid": "card-installed-version" }, "v" + a.version + " · installed")];
  }
  return [h("span.badge.info", { "data-testid": "card-installed-version" }, "installed v" + a.installed_version),
    h("span.badge", { "data-testid": "card-available-version" }, "v" + a.version + " available")];
}
// The failed update the node remembers: its version, reason and what it rolled back to.
function failedUpdate(a, progress) {
  const f = a.failed_update;
  if (!f) return null;
  return h("div.card.warnings", { "data-testid": "failed-update", role: "status" },
    h("strong", {}, f.message),
    h("p.muted", {}, "It is not offered as an update again" + (a.auto_update === "auto" ? " nor retried by auto-update" : "") +
      " until a newer version is published. Failed " + when(f.failed_at) + "."),
    h("button.secondary", { "data-testid": "retry-update",
      onclick: () => openUpdateDialog(a.ref, f.version, progress, { retry: true }) }, "Retry update to " + f.version + "…"));
}
// off / notify / auto, kept by the node (PUT /installed/{ref}/auto-update).
function autoUpdateSelect(a) {
  const status = h("span.muted", { "data-testid": "auto-update-status" });
  const sel = h("select", { "data-testid": "auto-update", "aria-label": "auto-update of " + a.name },
    [["off", "off: never, and no update shown"], ["notify", "notify: show updates, never apply them by itself"],
      ["auto", "auto: apply updates by itself"]].map(([v, label]) =>
      h("option", { value: v, selected: a.auto_update === v }, label)));
  sel.addEventListener("change", async () => {
    status.textContent = "saving…";
    await ensureToken(status.parentNode);
    try {
      const r = await api("/installed/" + refPath(a.ref) + "/auto-update", { method: "PUT", body: { policy: sel.value } });
      status.textContent = "saved: " + r.auto_update;
    } catch (e) { status.textContent = "Error: " + e.message; }
  });
  return h("label", {}, "Auto-update ", sel, " ", status);
}
// --- before an update: release notes, permission diff, confirm --------------------------
function changeLine(c) {
  if (c.change === "added") return h("li.added", { "data-testid": "diff-line" }, "+ " + c.what + " " + c.value);
  if (c.change === "removed") return h("li.removed", { "data-testid": "diff-line" }, "− " + c.what + " " + c.value);
  return h("li.changed", { "data-testid": "diff-line" }, "~ " + c.container + " " + c.what + ": " + c.from + " → " + c.to);
}
// The update button: opens the dialog for the head (or `version`).
function updateButton(a, progress) {
  return h("button", { "data-testid": "update", onclick: () => openUpdateDialog(a.ref, a.update_available, progress, {}) },
    "Update to " + a.update_available + "…");
}
// A dialog with the target's release notes, what it asks for that differs, a failed earlier
// attempt and (going down) the data warning; its confirm runs the update job in `progress`.
async function openUpdateDialog(ref, version, progress, extra) {
  clear(progress);
  let p;
  try { p = await api("/installed/" + refPath(ref) + "/update-preview" + (version ? "?version=" + enc(version) : "")); }
  catch (e) { progress.append(errorBox(e)); return; }
  const down = p.direction === "down";
  const diff = p.permissions === null ? h("p.muted", {}, "Not known yet: the new manifest has not been fetched.")
    : p.permissions.length ? h("ul.diff", { "data-testid": "permission-diff" }, p.permissions.map(changeLine))
      : h("p", { "data-testid": "permission-diff" }, "No change in what it asks for.");
  const body = Object.assign({ app: ref, version: p.version }, extra || {});
  if (down) body.downgrade = true;
  if (p.failed_update) body.retry = true;
  const dialog = h("div.card.confirm", { role: "dialog", "data-testid": down ? "rollback-dialog" : "update-dialog" },
    h("h3", {}, (down ? "Roll back " : "Update ") + p.installed_version + " → " + p.version),
    h("h4", {}, "Release notes"),
    p.release_notes ? h("pre.notes", { "data-testid": "release-notes" }, p.release_notes)
      : h("p.muted", { "data-testid": "release-notes" }, "The publisher gave no release notes."),
    h("h4", {}, "What changes in what it asks for"), diff,
    p.failed_update ? h("p.error", { "data-testid": "preview-failed" },
      "The last update to " + p.failed_update.version + " failed: " + p.failed_update.reason) : null,
    down ? h("p.error", { "data-testid": "data-warning" }, p.data_warning) : null,
    !p.allowed ? h("p.error", {}, "This node's guard refuses this version: " +
      ((p.guard && p.guard.reasons) || []).map((r) => r.message).join("; ")) : null,
    h("div.toolbar", {},
      h("button" + (down ? ".danger" : ""), { "data-testid": down ? "confirm-rollback" : "confirm-update", disabled: !p.allowed,
        onclick: (ev) => { dialog.remove(); return runAction("update", body, progress, ev.target); } },
      down ? "Roll back to " + p.version : p.failed_update ? "Retry update to " + p.version : "Update to " + p.version),
      h("button.secondary", { "data-testid": "cancel-update", onclick: () => dialog.remove() }, "Cancel")));
  progress.append(dialog);
}
// --- update all, in dependency order ------------------------------------------------------
function updateAllButton(list, progress) {
  const due = list.filter((a) => a.update_available);
  if (!due.length) return null;
  return h("div.toolbar", {},
    h("button", { "data-testid": "update-all", onclick: (ev) => runJob("update all", "/actions/update-all", {}, progress, ev.target) },
      "Update all (" + due.length + ")"),
    h("span.muted", {}, "dependencies first; a failed one stops only the apps that need it"));
}
// --- the app page's versions: install or roll back to a still valid one -------------------
function versionAction(a, x, progress) {
  if (x.void || x.yanked || x.status === "conflict") return h("td", {});
  if (!a.installed) {
    return h("td", {}, h("button.secondary", { "data-testid": "install-version",
      onclick: (ev) => runAction("install", { app: a.ref, version: x.version, with_deps: true }, progress, ev.target) }, "install this version"));
  }
  if (x.version === a.installed_version) return h("td", { "data-testid": "running-version" }, "installed");
  const older = compareVersions(x.version, a.installed_version) < 0;
  return h("td", {}, h("button.secondary", { "data-testid": older ? "rollback-version" : "update-version",
    onclick: () => openUpdateDialog(a.ref, x.version, progress, {}) }, older ? "roll back to this version…" : "update to this version…"));
}
// Semver precedence of the numeric core (pre-releases after their release's core).
function compareVersions(x, y) {
  const parse = (v) => String(v || "").split("-")[0].split(".").map((n) => parseInt(n, 10) || 0);
  const [a, b] = [parse(x), parse(y)];
  for (let i = 0; i < 3; i++) if ((a[i] || 0) !== (b[i] || 0)) return (a[i] || 0) - (b[i] || 0);
  return (String(x).includes("-") ? -1 : 0) - (String(y).includes("-") ? -1 : 0);
}
