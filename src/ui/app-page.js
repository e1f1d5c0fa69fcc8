// atoll marketplace UI: an app's page. Classic script sharing globals with the others
// (load order in index.html); every network string goes in with textContent.
"use strict";
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
// --- app page -------------------------------------------------------------------------
async function showApp(ref) {
  setNav("market");
  const v = clear(view());
  let a;
  try { a = await api("/apps/" + refPath(ref)); } catch (e) { v.append(errorBox(e)); return; }
  const progress = h("div", { "data-testid": "progress-area" });
  const actions = h("div.toolbar");
  const settings = a.installed ? null : settingsForm(a.manifest && a.manifest.settings);
  const ports = a.installed ? null : portsForm(a.manifest);
  const kept = a.installed ? null : keptDataOffer(a.kept_data);
  const form = installForm([settings, ports, kept]);
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
        a.ref, a.guard, progress, form, deps.length ? { with_deps: true } : null));
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
  ].concat(limitRows(perms.container_limits || []));
  v.append(
    h("div.detail-head", {}, icon(a, true),
      h("div", {}, h("h1", { "data-testid": "app-name" }, a.name),
        h("div.muted", { "data-testid": "app-versions-line" }, (a.installed_version
          ? "installed " + a.installed_version + (a.installed_version === a.version ? " (the latest)" : " · latest " + a.version)
          : "version " + a.version) + " · " + (a.categories || []).join(", ")),
        h("div.badges", {}, trustBadge(a.trust),
          a.signature && a.signature.valid ? h("span.badge.ok", {}, "signature verified") : h("span.badge.bad", {}, "signature not verified"),
          guardBadges(a.badges),
          a.demo ? h("span.badge", {}, "demo app") : null))),
    installWarnings(a) || "", kept || "", settings || "", ports || "", actions, progress,
    h("div.cols", {},
      h("div", {},
        screenshotsCard(a.screenshots),
        h("section.card", {}, h("h2", {}, "About"), h("p", { "data-testid": "app-description" }, a.description),
          a.license ? h("p.muted", {}, "License: " + a.license) : null,
          h("ul", {}, Object.entries(a.links || {}).map(([k, u]) => h("li", {}, h("a", { href: u, rel: "noopener nofollow", target: "_blank" }, k))))),
        h("section.card", {}, h("h2", {}, "What it asks for"),
          h("table", { "data-testid": "permissions" }, permRows.map(([k, val, id]) => h("tr", id ? { "data-testid": id } : {}, h("th", {}, k), h("td", {}, val))))),
        h("section.card", {}, h("h2", {}, "Versions"),
          h("table", {}, h("tr", {}, h("th", {}, "version"), h("th", {}, "sequence"), h("th", {}, "published"), h("th", {}, "state"), h("th", {}, "")),
            (a.versions || []).map((x) => {
              const row = h("tr", { "data-testid": "version-row" }, h("td", {}, x.version), h("td.mono", {}, x.sequence),
                h("td", {}, when(x.published_at)), versionState(x), versionAction(a, x, progress));
              row.dataset.version = x.version;
              return row;
            })))),
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
// Per container, from the manifest: memory and CPU limits, the user it runs as, its network.
function limitRows(list) {
  const each = (f) => list.map((c) => (list.length > 1 ? c.name + ": " : "") + f(c)).join("; ");
  const mem = (b) => b == null ? "no limit" : b >= 1073741824 ? (b / 1073741824).toFixed(1) + " GiB" : Math.round(b / 1048576) + " MiB";
  return [
    ["Memory limit", each((c) => mem(c.memory_bytes)), "perm-memory"],
    ["CPU limit", each((c) => c.cpus == null ? "no limit" : c.cpus + " CPU"), "perm-cpus"],
    ["Runs as user", each((c) => c.user || "the image's default user"), "perm-user"],
    ["Network", each((c) => c.network === "none" ? "none (no network)" : "its app's private network"), "perm-network"],
  ];
}
// The app's screenshots (blobs served like the icon), each with its caption as alt text.
function screenshotsCard(shots) {
  if (!(shots || []).length) return null;
  return h("section.card", { "data-testid": "screenshots" }, h("h2", {}, "Screenshots"),
    h("div.screenshots", {}, shots.map((s) => h("figure", {},
      h("img.screenshot", { src: s.url, alt: s.caption || "screenshot", "data-testid": "screenshot" }),
      s.caption ? h("figcaption.muted", {}, s.caption) : null))));
}
function explanation(x) {
  if (!x) return h("p.muted", {}, "No explanation available.");
  return h("div", { "data-testid": "trust-explanation" },
    h("p", {}, "Score " + (x.score || 0).toFixed(2) + (x.summary ? ": " + x.summary : "")),
    h("ul.trust-path", {}, (x.path || []).map((step) => h("li", {}, step))),
    (x.penalties || []).length ? h("div", {}, h("strong", {}, "Penalties"), h("ul", {}, x.penalties.map((p) => h("li", {}, p)))) : null);
}
