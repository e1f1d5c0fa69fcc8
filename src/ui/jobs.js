// atoll marketplace UI: settings, credentials and jobs with live progress. Classic script sharing globals with the others
// (load order in index.html); every network string goes in with textContent.
"use strict";
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
// A finished job's card, kept on screen outside the re-rendered view (in #notices) until
// dismissed: success with the app's link, or the failure's reason (a rollback's too), which
// its last progress line already says (`outcome-reason`), so it is not said twice.
function keepOutcome(card, action, p) {
  const failed = !!p.error;
  card.setAttribute("data-testid", "outcome");
  card.dataset.state = failed ? "failed" : "done";
  card.dataset.action = action;
  card.classList.add("outcome", failed ? "failed" : "ok");
  card.setAttribute("role", failed ? "alert" : "status");
  card.firstChild.textContent = action + (failed ? " failed" : " done");
  if (!failed && p.web_url) {
    card.append(h("p", {}, h("a", { href: p.web_url, target: "_blank", rel: "noopener", "data-testid": "outcome-open" }, "Open " + p.web_url)));
  }
  card.append(h("button.secondary", { "data-testid": "dismiss-outcome", onclick: () => card.remove() }, "Dismiss"));
  document.getElementById("notices").append(card);
}
// Only the latest job's message is the `progress-message`: older outcomes keep theirs as
// `outcome-message`.
function retireProgressMessages() {
  document.querySelectorAll("[data-testid=progress-message]").forEach((m) => m.setAttribute("data-testid", "outcome-message"));
}
// Start a job (POST path) and follow its progress in `area` until it ends. Its button stays
// disabled while it runs; at the end its card moves to the kept outcomes and the page is
// rendered again at once, showing the state after the job (never the one before it).
async function runJob(action, path, body, area, button) {
  clear(area);
  await ensureToken(area);
  if (button) button.disabled = true;
  retireProgressMessages();
  const bar = h("div.progress", { role: "progressbar" }, h("div"));
  const msg = h("p", { "data-testid": "progress-message" }, "Starting " + action + "…");
  const card = h("div.card", { "data-testid": "job-card" }, h("strong", {}, action), bar, msg);
  area.append(card);
  let job;
  try { job = await api(path, { method: "POST", body }); }
  catch (e) {
    // Refused before any job started: nothing changed, the page stays as it is.
    if (e.status === 401) localStorage.removeItem("atoll-token");
    bar.classList.add("failed"); msg.textContent = "Failed: " + e.message; if (button) button.disabled = false; return;
  }
  let shown = 0;
  return new Promise((resolve) => {
    const es = new EventSource(API + "/jobs/" + enc(job.job) + "/events");
    es.onmessage = (ev) => {
      let p; try { p = JSON.parse(ev.data); } catch { return; }
      // Never backwards on screen either (the node's events are monotonic already).
      shown = Math.max(shown, Math.max(0, Math.min(100, p.percent || 0)));
      bar.firstChild.style.width = shown + "%";
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
        if (p.error) {
          bar.classList.add("failed");
          clear(msg).append("Failed: ", h("span.error", { "data-testid": "outcome-reason" }, p.error));
        }
        else { bar.classList.add("done"); msg.dataset.state = "done"; if (p.message) msg.textContent = p.message; }
        keepOutcome(card, action, p);
        const credentials = p.credentials ? showCredentials(job.job, p.credentials) : Promise.resolve();
        credentials.finally(async () => {
          try { await route(); } finally { resolve(p); }
        });
      }
    };
    es.onerror = () => { /* EventSource reconnects by itself; the job replays its events */ };
  });
}
