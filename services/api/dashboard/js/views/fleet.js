/**
 * The fleet view: one tile per service, worst first, filtered by a query that lives in the URL.
 * Tiles are built once and only the changed ones are written to, inside the store's animation frame;
 * the order is recomputed when a status, state or success rate moved, at most once a second for rates.
 */
import { h, setText, STATE_ICON, STATUS_ICON } from "../dom.js";
import { formatClock, formatCount, formatCountdown, formatPerSecond, formatRate } from "../format.js";
import { ORDERS, placeKey } from "../order.js";
import { matches, parseQuery } from "../query.js";
import { BUCKET_MS, latestRate, rates, sparkPoints } from "../sparkline.js";

const SPARK_W = 120;
const SPARK_H = 22;
const RATE_REORDER_MS = 1000;
const STATUSES = ["failed", "degraded", "healthy"];

/** The filter as the URL holds it: ?q=…&status=failed,degraded&sort=worst */
function filterFromUrl() {
  const params = new URLSearchParams(window.location.search);
  const status = (params.get("status") || "").split(",").filter((s) => STATUSES.includes(s));
  const sort = ORDERS[params.get("sort")] ? params.get("sort") : "worst";
  return { q: params.get("q") || "", status: new Set(status), sort };
}

function filterToUrl(filter) {
  const params = new URLSearchParams();
  if (filter.q) params.set("q", filter.q);
  if (filter.status.size) params.set("status", [...filter.status].join(","));
  if (filter.sort !== "worst") params.set("sort", filter.sort);
  const query = params.toString();
  history.replaceState(history.state, "", window.location.pathname + (query ? `?${query}` : ""));
}

function buildTile(name) {
  const refs = {};
  const ref = (key, el) => (refs[key] = el);
  const el = h("a", { class: "tile", href: `/dashboard/services/${encodeURIComponent(name)}`, dataset: { service: name } },
    h("div", { class: "tile-head" },
      h("span", { class: "tile-name", title: name }, name),
      ref("rate", h("span", { class: "tile-rate", title: "success rate" }))),
    h("div", { class: "tile-circuit" },
      ref("badge", h("span", { class: "badge" },
        ref("statusIcon", h("span", { class: "badge-icon", "aria-hidden": "true" })),
        ref("statusText", h("span", { class: "badge-text" })))),
      ref("circuit", h("span", { class: "circuit" })),
      ref("failures", h("span", { class: "failures", title: "consecutive failures of the threshold" })),
      ref("attempts", h("span", { class: "attempts", title: "half-open trials in this incident" })),
      ref("countdown", h("span", { class: "countdown" }))),
    h("div", { class: "tile-spark" },
      ref("spark", h("svg:svg", { class: "spark", viewBox: `0 0 ${SPARK_W} ${SPARK_H}`, preserveAspectRatio: "none",
                                  "aria-hidden": "true" },
        ref("line", h("svg:polyline", { points: "" })))),
      ref("rps", h("span", { class: "rps", title: "requests per second, last 3 minutes" }))),
    h("div", { class: "tile-counts" },
      ref("total", h("span", { class: "total", title: "total calls" })),
      ref("ok", h("span", { class: "ok", title: "successful" })),
      ref("failed", h("span", { class: "bad", title: "failed" })),
      ref("rejected", h("span", { class: "rej", title: "rejected by client-side breakers" })),
      ref("last", h("span", { class: "last", title: "last operation" }))));
  return { el, refs, status: "", state: "", key: "", deadline: null };
}

export function mountFleet(root, { store, clock = () => Date.now() }) {
  const filter = filterFromUrl();
  let parsed = parseQuery(filter.q);
  /** @type {Map<string, ReturnType<typeof buildTile>>} */
  const tiles = new Map();
  const withDeadline = new Set();
  let orderDirty = true;
  let lastReorder = 0;
  let rendered = 0;

  const counterButton = (key, label, icon) => h("button", {
    type: "button", class: `counter counter-${key}`, dataset: { counter: key }, "aria-pressed": "false",
    onclick: () => toggleCounter(key),
  }, h("span", { class: "counter-icon", "aria-hidden": "true" }, icon),
    h("span", { class: "counter-value" }, "0"), h("span", { class: "counter-label" }, label));
  const counters = {
    open: counterButton("open", "open", STATE_ICON.open),
    "half-open": counterButton("half-open", "half-open", STATE_ICON["half-open"]),
    degraded: counterButton("degraded", "degraded", STATUS_ICON.degraded),
    healthy: counterButton("healthy", "healthy", STATUS_ICON.healthy),
  };
  const search = h("input", {
    type: "search", class: "query", value: filter.q, "aria-label": "Filter services",
    placeholder: "Filter: payments  state:open  rate<0.95  name:pay*  -status:healthy", spellcheck: "false",
    oninput: () => { filter.q = search.value; parsed = parseQuery(filter.q); filterChanged(); },
  });
  const queryErrors = h("div", { class: "query-errors", role: "status", "aria-live": "polite" });
  const statusButtons = STATUSES.map((status) => h("button", {
    type: "button", class: `chip status-${status}`, dataset: { status }, "aria-pressed": String(filter.status.has(status)),
    onclick: () => {
      if (filter.status.has(status)) filter.status.delete(status); else filter.status.add(status);
      filterChanged();
    },
  }, h("span", { "aria-hidden": "true" }, STATUS_ICON[status]), ` ${status}`));
  const sortSelect = h("select", { "aria-label": "Sort", onchange: () => { filter.sort = sortSelect.value; filterChanged(); } },
    h("option", { value: "worst" }, "Worst first"), h("option", { value: "name" }, "Name"),
    h("option", { value: "busiest" }, "Busiest"));
  sortSelect.value = filter.sort;
  const shown = h("span", { class: "shown", role: "status" });
  const grid = h("div", { class: "fleet-grid", role: "list", "aria-label": "Services" });
  const empty = h("p", { class: "empty" }, "Waiting for the breaker states…");

  root.append(h("section", { class: "fleet" },
    h("div", { class: "fleet-summary", role: "group", "aria-label": "Fleet counters" }, ...Object.values(counters)),
    h("div", { class: "fleet-toolbar" },
      h("div", { class: "query-box" }, search, queryErrors),
      h("div", { class: "chips", role: "group", "aria-label": "Status filter" }, ...statusButtons),
      sortSelect, shown),
    empty, grid));

  function toggleCounter(key) {
    const term = key === "open" || key === "half-open" ? `state:${key}` : `status:${key}`;
    const words = filter.q.split(/\s+/).filter(Boolean);
    filter.q = words.includes(term) ? words.filter((w) => w !== term).join(" ") : [...words, term].join(" ");
    search.value = filter.q;
    parsed = parseQuery(filter.q);
    filterChanged();
  }

  function filterChanged() {
    filterToUrl(filter);
    statusButtons.forEach((b) => b.setAttribute("aria-pressed", String(filter.status.has(b.dataset.status))));
    for (const [key, button] of Object.entries(counters)) {
      const term = key === "open" || key === "half-open" ? `state:${key}` : `status:${key}`;
      button.setAttribute("aria-pressed", String(filter.q.split(/\s+/).includes(term)));
    }
    setText(queryErrors, parsed.errors.join("; "));
    orderDirty = true;
    reorder(true);
  }

  function visible(state) {
    return (filter.status.size === 0 || filter.status.has(state.status)) && matches(parsed.terms, state);
  }

  function writeTile(tile, state, now) {
    const { refs } = tile;
    if (tile.status !== state.status) {
      tile.status = state.status;
      tile.el.dataset.status = state.status;
      tile.el.dataset.statusChangedAt = String(Date.now());
      refs.badge.className = `badge status-${state.status}`;
      setText(refs.statusIcon, STATUS_ICON[state.status] ?? "?");
      setText(refs.statusText, state.status);
      tile.el.className = `tile status-${state.status}`;
    }
    const circuit = state.circuit;
    if (tile.state !== circuit.state) {
      tile.state = circuit.state;
      tile.el.dataset.state = circuit.state;
      refs.circuit.className = `circuit circuit-${circuit.state}`;
      setText(refs.circuit, `${STATE_ICON[circuit.state]} ${circuit.state}`);
    }
    setText(refs.failures, `${circuit.failureCount} of ${state.config.failureThreshold}`);
    setText(refs.attempts, circuit.recoveryAttempts ? `trial ${circuit.recoveryAttempts}` : "");
    setText(refs.rate, formatRate(state.operations.successRate));
    const ops = state.operations;
    setText(refs.total, formatCount(ops.total));
    setText(refs.ok, `✓ ${formatCount(ops.successful)}`);
    setText(refs.failed, `✕ ${formatCount(ops.failed)}`);
    setText(refs.rejected, ops.rejected ? `⊘ ${formatCount(ops.rejected)}` : "");
    setText(refs.last, formatClock(ops.lastOperation));
    tile.deadline = state.nextDeadline;
    if (state.nextDeadline) withDeadline.add(state.service); else withDeadline.delete(state.service);
    writeCountdown(tile, state, now);
  }

  function writeCountdown(tile, state, now) {
    let text = "";
    if (state.nextDeadline) {
      const left = formatCountdown(state.nextDeadline - now);
      if (state.circuit.state === "open") text = `trial in ${left}`;
      else if (state.status === "degraded") text = `healthy in ${left}`;
    }
    setText(tile.refs.countdown, text);
  }

  function writeSpark(tile, samples, now) {
    const values = rates(samples, now);
    tile.refs.line.setAttribute("points", sparkPoints(values, SPARK_W, SPARK_H));
    setText(tile.refs.rps, formatPerSecond(latestRate(values)));
  }

  function reorder(force) {
    const now = performance.now();
    if (!orderDirty || (!force && now - lastReorder < RATE_REORDER_MS)) return;
    orderDirty = false;
    lastReorder = now;
    const order = ORDERS[filter.sort];
    const states = [];
    for (const entry of store.services.values()) states.push(entry.state);
    states.sort(order);
    let shownCount = 0;
    let cursor = grid.firstChild;
    for (const state of states) {
      if (!visible(state)) continue;
      shownCount++;
      const el = tiles.get(state.service).el;
      if (cursor === el) cursor = cursor.nextSibling;
      else grid.insertBefore(el, cursor);
    }
    while (cursor) {
      const next = cursor.nextSibling;
      cursor.remove();
      cursor = next;
    }
    setText(shown, `${shownCount} of ${states.length} shown`);
    empty.hidden = states.length > 0;
    if (states.length > 0) setText(empty, "");
  }

  function countFleet() {
    const counts = { open: 0, "half-open": 0, degraded: 0, healthy: 0 };
    for (const { state } of store.services.values()) {
      if (state.circuit.state === "open") counts.open++;
      else if (state.circuit.state === "half-open") counts["half-open"]++;
      if (state.status === "degraded") counts.degraded++;
      else if (state.status === "healthy") counts.healthy++;
    }
    for (const [key, button] of Object.entries(counters)) {
      setText(button.querySelector(".counter-value"), String(counts[key]));
      button.classList.toggle("nonzero", counts[key] > 0);
    }
  }

  function onChange(changed, removed) {
    const now = Date.now();
    for (const name of changed) {
      const entry = store.services.get(name);
      let tile = tiles.get(name);
      if (!tile) {
        tile = buildTile(name);
        tile.el.setAttribute("role", "listitem");
        tiles.set(name, tile);
        orderDirty = true;
        writeTile(tile, entry.state, now);
        writeSpark(tile, entry.samples, now);
        tile.key = placeKey(entry.state);
        continue;
      }
      const key = placeKey(entry.state);
      if (key !== tile.key) {
        if (tile.status !== entry.state.status || tile.state !== entry.state.circuit.state) lastReorder = 0;
        tile.key = key;
        orderDirty = true;
      }
      writeTile(tile, entry.state, now);
    }
    for (const name of removed) {
      tiles.get(name)?.el.remove();
      tiles.delete(name);
      withDeadline.delete(name);
      orderDirty = true;
    }
    reorder(false);
    countFleet();
    if (store.snapshotCompleteAt !== null && rendered === 0 && store.snapshot === null) {
      rendered = performance.now();
      // The next frame starts once this one is painted: that is when the fleet is on screen.
      requestAnimationFrame(() => {
        performance.mark("fusebox:fleet-rendered");
        performance.measure("fusebox:first-render", "fusebox:snapshot-start", "fusebox:fleet-rendered");
        document.documentElement.dataset.fleetRendered = "true";
      });
    }
  }

  // Countdowns tick four times a second, only on the tiles that have a deadline.
  const countdownTimer = setInterval(() => {
    const now = clock();
    for (const name of withDeadline) {
      const tile = tiles.get(name);
      const state = store.get(name);
      if (tile && state) writeCountdown(tile, state, now);
    }
  }, 250);

  // Sparklines move on when a bucket completes, a slice of the fleet per frame so no frame grows long.
  let sparkQueue = [];
  const sparkTimer = setInterval(() => {
    sparkQueue = [...tiles.keys()];
    requestAnimationFrame(drawSparkSlice);
  }, BUCKET_MS);
  function drawSparkSlice() {
    const now = Date.now();
    for (const name of sparkQueue.splice(0, 150)) {
      const tile = tiles.get(name);
      const entry = store.services.get(name);
      if (tile && entry) writeSpark(tile, entry.samples, now);
    }
    if (sparkQueue.length) requestAnimationFrame(drawSparkSlice);
  }
  // Pending reorders of rate changes are applied even when no further update comes.
  const reorderTimer = setInterval(() => reorder(false), RATE_REORDER_MS);

  const unsubscribe = store.subscribe(onChange);
  if (store.services.size) onChange(new Set(store.services.keys()), new Set());
  filterChanged();

  return () => {
    unsubscribe();
    clearInterval(countdownTimer);
    clearInterval(sparkTimer);
    clearInterval(reorderTimer);
  };
}
