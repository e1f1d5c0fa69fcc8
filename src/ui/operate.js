// atoll marketplace UI: what an operator looks for on an installed app: live state (polled,
// updated in place so open panels and typed input stay), each container's restarts and
// last failure, logs per container followed live, generated credentials on request, and
// resource use next to the limits. Classic script sharing globals with the others (load
// order in index.html); every network string goes in with textContent.
"use strict";

const LIVE_EVERY_MS = 2000;
let liveGeneration = 0;

// The parts of an installed app's card that change with its live state.
function liveParts(a, act) {
  const parts = {
    state: h("span.badge", { "data-testid": "state" }),
    health: h("span.badge", { "data-testid": "health", hidden: true }),
    control: h("span", { "data-testid": "control" }),
    containers: h("ul.containers", { "data-testid": "containers" }),
    lastError: h("p.error", { "data-testid": "last-error", hidden: true }),
    wantedText: h("span", { "data-testid": "wanted" }),
    wanted: null, act,
  };
  updateLive(parts, a);
  return parts;
}
// Put an /installed row into its card's live parts (only what changed is touched).
function updateLive(parts, a) {
  setText(parts.state, a.state);
  parts.state.className = "badge " + (a.state === "running" ? "ok" : a.state === "stopped" ? "" : "warn");
  // "none": no container has a health check, nothing to say.
  parts.health.hidden = !a.health || a.health === "none";
  setText(parts.health, a.health || "");
  parts.health.className = "badge " + (a.health === "healthy" ? "ok" : "warn");
  setText(parts.wantedText, a.wanted ? " · wanted " + a.wanted : "");
  if (parts.wanted !== a.wanted) {
    parts.wanted = a.wanted;
    clear(parts.control).append(a.wanted === "stopped" ? parts.act("start") : parts.act("stop"));
  }
  const rows = (a.containers || []).map((c) => {
    const bits = [c.state, c.health && c.health !== "none" ? c.health : null,
      c.exit_code !== null && c.exit_code !== undefined && c.state !== "running" ? "exit code " + c.exit_code : null].filter(Boolean);
    return h("li", { "data-testid": "container-row", "data-ref": c.name },
      h("strong", {}, c.name), " " + bits.join(" · ") + " · ",
      h("span", { "data-testid": "restarts" }, "restarts " + (c.restarts || 0)),
      c.last_failure ? h("span.error", { "data-testid": "last-failure" }, " · last failure: " + c.last_failure) : null);
  });
  const sig = JSON.stringify(a.containers || []);
  if (parts.containers.dataset.sig !== sig) { parts.containers.dataset.sig = sig; clear(parts.containers).append(...rows); }
  parts.lastError.hidden = !a.last_error;
  setText(parts.lastError, a.last_error ? "Last error: " + a.last_error : "");
}
function setText(el, text) { if (el.textContent !== text) el.textContent = text; }

// Poll /installed while this rendering of the Installed page is the one shown. Apps
// installed elsewhere meanwhile (CLI, another tab, a restore) are announced in `banner`
// with a button that shows them; the page is not re-rendered under the user's hands.
function keepLive(cards, banner) {
  const gen = ++liveGeneration;
  const tick = async () => {
    if (gen !== liveGeneration || !location.hash.startsWith("#/installed")) return;
    try {
      const list = await api("/installed");
      if (gen !== liveGeneration) return;
      for (const [ref, card] of cards) {
        const a = list.find((x) => x.ref === ref);
        if (a) updateLive(card.parts, a);
        else { setText(card.parts.state, "not installed"); card.parts.state.className = "badge warn"; card.parts.health.hidden = true; }
        if (card.usage && !card.usage.panel.hidden && a) card.usage.refresh();
      }
      if (banner) announceNew(banner, list.filter((x) => !cards.has(x.ref)));
    } catch { /* the node is restarting: keep what is shown, try again */ }
    setTimeout(tick, LIVE_EVERY_MS);
  };
  setTimeout(tick, LIVE_EVERY_MS);
}

function announceNew(banner, added) {
  const names = added.map((a) => a.name || a.ref).join(", ");
  banner.hidden = !added.length;
  if (banner.dataset.names === names) return;
  banner.dataset.names = names;
  clear(banner);
  if (!added.length) return;
  banner.append(h("span", {}, (added.length === 1 ? "Installed since this page was shown: " : added.length + " apps installed since this page was shown: ") + names + " "),
    h("button.secondary", { "data-testid": "show-new-installed", onclick: () => route() }, "show"));
}

// --- logs --------------------------------------------------------------------------------
// A logs panel: container choice, follow, "no output yet" for an empty log.
function logsPanel(a) {
  const panel = h("div.logs-panel", { hidden: true, "data-testid": "logs-panel" });
  const names = (a.containers || []).map((c) => c.name);
  const select = h("select", { "data-testid": "log-container", "aria-label": "container" },
    h("option", { value: "" }, "all containers"), names.map((n) => h("option", { value: n }, n)));
  const follow = h("input", { type: "checkbox", id: "follow-" + a.ref, "data-testid": "log-follow" });
  const pre = h("pre.logs", { "data-testid": "logs" });
  const empty = h("p.muted", { "data-testid": "logs-empty", hidden: true }, "No output yet.");
  const status = h("p.muted", { "data-testid": "logs-status" });
  let source = null;
  let loads = 0; // only the answer to the latest choice is shown
  const stop = () => { if (source) { source.close(); source = null; } };
  const lineOf = (e) => (select.value ? "" : e.container + ": ") + e.text;
  const show = (lines) => { pre.textContent = lines.join("\n"); pre.hidden = !lines.length; empty.hidden = !!lines.length; };
  const load = async () => {
    stop();
    const q = "?tail=200" + (select.value ? "&container=" + enc(select.value) : "");
    const path = "/installed/" + refPath(a.ref) + "/logs" + q;
    const mine = ++loads;
    if (!follow.checked) {
      setText(status, "");
      try { const r = await api(path); if (mine === loads) show(r.entries.map(lineOf)); }
      catch (e) { if (mine === loads) { show([]); empty.hidden = true; status.textContent = "Error: " + e.message; } }
      return;
    }
    const lines = [];
    show(lines);
    status.textContent = "Following…";
    source = new EventSource(API + path + "&follow=true");
    source.onmessage = (ev) => {
      let e; try { e = JSON.parse(ev.data); } catch { return; }
      lines.push(lineOf(e));
      if (lines.length > 2000) lines.shift();
      const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
      show(lines);
      if (atEnd) pre.scrollTop = pre.scrollHeight;
    };
    source.addEventListener("end", (ev) => {
      stop();
      let r = {}; try { r = JSON.parse(ev.data); } catch { r = {}; }
      status.textContent = "Stopped following: " + (r.reason || "the log ended");
    });
    source.onerror = async () => {
      // A refusal (unknown container, app gone) is an error answer, not a stream: say it.
      stop();
      try { await api(path); status.textContent = "The log stream broke off; tick follow again."; }
      catch (e) { status.textContent = "Error: " + e.message; }
    };
  };
  select.addEventListener("change", load);
  follow.addEventListener("change", load);
  panel.append(h("div.toolbar", {}, h("label", {}, "container ", select),
    h("label", { for: "follow-" + a.ref }, follow, " follow")), status, empty, pre);
  panel.toggle = () => { panel.hidden = !panel.hidden; if (panel.hidden) stop(); else load(); };
  return panel;
}

// --- credentials ---------------------------------------------------------------------------
function credentialsPanel(a) {
  const panel = h("div.card.credentials", { hidden: true, "data-testid": "installed-credentials" });
  panel.toggle = async () => {
    if (!panel.hidden) { panel.hidden = true; clear(panel); return; }
    panel.hidden = false;
    clear(panel);
    await ensureToken(panel);
    try {
      const r = await api("/installed/" + refPath(a.ref) + "/credentials", { method: "POST", body: {} });
      if (!r.credentials.length) panel.append(h("p.muted", {}, a.name + " generated no credentials to show."));
      for (const c of r.credentials) {
        panel.append(h("div.credential", { "data-testid": "credential" },
          h("span", {}, c.name + " (container " + c.container + ")"),
          h("code", { "data-testid": "credential-value" }, c.value), copyButton(c.value)));
      }
    } catch (e) {
      if (e.status === 401) localStorage.removeItem("atoll-token");
      panel.append(errorBox(e));
    }
    panel.append(h("button.secondary", { "data-testid": "hide-credentials", onclick: () => { panel.hidden = true; clear(panel); } }, "Hide"));
  };
  return panel;
}

// --- resource use ----------------------------------------------------------------------------
function usagePanel(a) {
  const panel = h("div", { hidden: true, "data-testid": "usage-panel" });
  const table = h("table", { "data-testid": "usage-table" });
  const note = h("p.muted", {});
  panel.append(table, note);
  let busy = false;
  const refresh = async () => {
    if (busy) return;
    busy = true;
    try {
      const u = await api("/installed/" + refPath(a.ref) + "/usage");
      clear(table).append(h("tr", {}, h("th", {}, "container"), h("th", {}, "CPU"), h("th", {}, "memory"), h("th", {}, "disk")),
        ...u.containers.map((c) => h("tr", { "data-testid": "usage-row", "data-ref": c.name },
          h("td", {}, c.name),
          h("td", { "data-testid": "usage-cpu" }, (c.cpu_percent === null ? "—" : c.cpu_percent.toFixed(1) + " %") +
            (c.cpu_limit ? " of " + c.cpu_limit + " CPU" : " (no limit)")),
          h("td", { "data-testid": "usage-memory" }, (c.memory_bytes === null ? "—" : bytes(c.memory_bytes)) + " / " +
            (c.memory_limit ? bytes(c.memory_limit) : "no limit")),
          h("td", { "data-testid": "usage-disk" }, c.volumes.length ? c.volumes.map((v) => v.name + " " + bytes(v.bytes)).join(", ") : "no volumes"))));
      setText(note, u.measured);
    } catch (e) { clear(table); setText(note, "Error: " + e.message); }
    busy = false;
  };
  return { panel, refresh, toggle: () => { panel.hidden = !panel.hidden; if (!panel.hidden) refresh(); } };
}
