// atoll marketplace UI: the install/update guard. Classic script sharing globals with the others
// (load order in index.html); every network string goes in with textContent.
"use strict";
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
    // The install dialog's fields (settings, ports, start fresh), read at the click (a
    // required one left empty stops here, naming it).
    if (settings) {
      const values = settings.values();
      if (values.error) { clear(progress).append(h("p.error", { "data-testid": "settings-error" }, values.error)); return; }
      b = Object.assign({}, b, values);
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
