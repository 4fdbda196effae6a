/**
 * The fleet view: one tile per service, worst first, filtered by a query that lives in the URL.
 * Tiles are built once and only the changed ones are written to, inside the store's animation frame;
 * the order is recomputed when a status, state or success rate moved, at most every two seconds for rates.
 */
import { h, setText, STATE_ICON, STATUS_ICON } from "../dom.js";
import { formatClock, formatCount, formatCountdown, formatPerSecond, formatRate } from "../format.js";
import { ORDERS, placeKey, stayingItems } from "../order.js";
import { matches, parseQuery } from "../query.js";
import { BUCKET_MS, latestRate, rates, recent, sparkPoints } from "../sparkline.js";

const SPARK_W = 120;
const SPARK_H = 22;
const RATE_REORDER_MS = 2000;
const STATUSES = ["failed", "degraded", "healthy"];
const TILE_MIN_W = 248;
const TILE_H = 100;
const TILE_GAP = 6;
const FAR_MOVES_PER_FRAME = 60;
const SPARKS_PER_FRAME = 50;
const DOM_MOVES_PER_FRAME = 40;

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
      ref("attempts", h("span", { class: "attempts", title: "half-open trials in this incident" }))),
    h("div", { class: "tile-spark" },
      ref("countdown", h("span", { class: "countdown" })),
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
  return { el, refs, status: "", state: "", key: "", deadline: null, index: -1 };
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
  const grid = h("nav", { class: "fleet-grid", "aria-label": "Services" });
  const empty = h("p", { class: "empty", role: "status" }, "Waiting for the breaker states…");

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
    const values = recent(rates(samples, now));
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
    const wanted = [];
    for (const state of states) if (visible(state)) wanted.push(tiles.get(state.service).el);
    placeInOrder(wanted);
    position(wanted, false);
    const shownCount = wanted.length;
    setText(shown, `${shownCount} of ${states.length} shown`);
    writeEmpty();
  }

  function writeEmpty() {
    const none = store.services.size === 0;
    empty.hidden = !none;
    setText(empty, !none ? "" : store.complete
      ? "No breakers yet — services appear here when they report outcomes."
      : "Waiting for the breaker states…");
  }

  /**
   * Tiles are absolutely placed at (column, row) of their index: each is then its own layout boundary, so a
   * number written into one tile, or a tile moving, never lays out the other thousand again.
   */
  const geometry = { columns: 1, width: TILE_MIN_W, placed: [], top: 0 };
  let scrollY = window.scrollY;
  const onScroll = () => { scrollY = window.scrollY; if (farMoves.size) requestAnimationFrame(moveFar); };
  window.addEventListener("scroll", onScroll, { passive: true });
  /** Tiles whose new place is out of sight, moved a slice per frame: one status change can shift hundreds. */
  const farMoves = new Map();

  function place(el, index) {
    const column = index % geometry.columns;
    const row = Math.floor(index / geometry.columns);
    el.style.transform = `translate(${column * (geometry.width + TILE_GAP)}px, ${row * (TILE_H + TILE_GAP)}px)`;
  }

  function nearRange() {
    const rowHeight = TILE_H + TILE_GAP;
    const screenRows = Math.ceil(window.innerHeight / rowHeight);
    const firstRow = Math.floor((scrollY - geometry.top) / rowHeight) - screenRows;
    return [Math.max(0, firstRow) * geometry.columns, (firstRow + 3 * screenRows + 1) * geometry.columns];
  }

  function position(wanted, all) {
    const started = performance.now();
    let placed = 0;
    const [low, high] = nearRange();
    wanted.forEach((el, index) => {
      const tile = tiles.get(el.dataset.service);
      if (!all && tile.index === index) return;
      const near = (index >= low && index < high) || (tile.index >= low && tile.index < high) || tile.index < 0;
      tile.index = index;
      if (near) {
        farMoves.delete(el);
        place(el, index);
        placed++;
      } else {
        farMoves.set(el, index);
      }
    });
    geometry.placed = wanted;
    const rows = Math.ceil(wanted.length / geometry.columns);
    const height = `${Math.max(0, rows * (TILE_H + TILE_GAP) - TILE_GAP)}px`;
    // A new height changes every tile's containing block: written only when the row count changes.
    if (grid.style.height !== height) grid.style.height = height;
    if (farMoves.size) requestAnimationFrame(moveFar);
    performance.measure("fusebox:position", { start: started, detail: { placed, far: farMoves.size } });
  }

  function moveFar() {
    let budget = FAR_MOVES_PER_FRAME;
    for (const [el, index] of farMoves) {
      if (budget-- === 0) break;
      farMoves.delete(el);
      place(el, index);
    }
    if (farMoves.size) requestAnimationFrame(moveFar);
  }
  function measure() {
    const width = grid.clientWidth;
    const columns = Math.max(1, Math.floor((width + TILE_GAP) / (TILE_MIN_W + TILE_GAP)));
    const tileWidth = Math.floor((width - TILE_GAP * (columns - 1)) / columns);
    if (columns === geometry.columns && tileWidth === geometry.width) return;
    geometry.columns = columns;
    geometry.width = tileWidth;
    geometry.top = grid.getBoundingClientRect().top + window.scrollY;
    grid.style.setProperty("--tile-w", `${tileWidth}px`);
    position(geometry.placed, true);
  }
  const resize = new ResizeObserver(() => measure());
  resize.observe(grid);
  measure();

  /**
   * Puts the grid's tiles in the wanted order (the order keyboard and screen readers follow; the eye follows the
   * transforms), moving as few as possible and at most DOM_MOVES_PER_FRAME a frame: a moved node is restyled and
   * laid out from scratch, and one status change can shift hundreds. New tiles are always added.
   */
  let domOrder = null;
  function placeInOrder(wanted) {
    domOrder = wanted;
    const started = performance.now();
    const wantedSet = new Set(wanted);
    const position = new Map();
    for (let el = grid.firstElementChild; el;) {
      const next = el.nextElementSibling;
      if (wantedSet.has(el)) position.set(el, position.size); else el.remove();
      el = next;
    }
    const keep = stayingItems(wanted.map((el) => position.get(el) ?? -1));
    let budget = DOM_MOVES_PER_FRAME;
    let moved = 0;
    let pending = false;
    let anchor = null;
    for (let i = wanted.length - 1; i >= 0; i--) {
      if (keep[i]) {
        anchor = wanted[i];
        continue;
      }
      const placed = position.has(wanted[i]);
      if (placed && budget === 0) {
        pending = true;
        continue;
      }
      if (pending) {
        if (!placed) grid.append(wanted[i]);
        continue;
      }
      grid.insertBefore(wanted[i], anchor);
      anchor = wanted[i];
      if (placed) {
        budget--;
        moved++;
      }
    }
    if (moved) performance.measure("fusebox:dom-moves", { start: started, detail: { moved, pending } });
    if (pending) requestAnimationFrame(() => { if (domOrder === wanted) placeInOrder(wanted); });
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
    writeEmpty();
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
    for (const name of sparkQueue.splice(0, SPARKS_PER_FRAME)) {
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
    resize.disconnect();
    window.removeEventListener("scroll", onScroll);
  };
}
