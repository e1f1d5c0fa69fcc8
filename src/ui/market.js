// atoll marketplace UI: the marketplace list. Classic script sharing globals with the others
// (load order in index.html); every network string goes in with textContent.
"use strict";
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
      h("div.badges", {}, trustBadge(a.trust), versionBadges(a),
        guardBadges(a.badges),
        a.demo ? h("span.badge", { "data-testid": "demo-badge" }, "demo") : null)));
}
