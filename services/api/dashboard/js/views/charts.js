/**
 * Metrics over time from /metrics/series, drawn with uPlot: calls per bucket and latency percentiles.
 * uPlot is loaded only when a service page opens, so the fleet view does not pay for it.
 */
import { clear, h } from "../dom.js";

export const TIMEFRAMES = ["1h", "24h", "7d", "30d"];

let uPlotModule = null;
async function loadUPlot() {
  uPlotModule ??= import("/dashboard/vendor/uPlot.esm.js").then((m) => m.default);
  return uPlotModule;
}

function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

/** uPlot's columns from the series buckets: x in epoch seconds, nulls left as gaps. */
export function columns(series) {
  const x = [], requests = [], successes = [], failures = [], rejected = [], avg = [], p95 = [], p99 = [];
  for (const bucket of series.buckets) {
    x.push(Date.parse(bucket.start) / 1000);
    requests.push(bucket.requestCount);
    successes.push(bucket.successCount);
    failures.push(bucket.failureCount);
    rejected.push(bucket.rejectedCount);
    avg.push(bucket.avgResponseTime);
    p95.push(bucket.p95ResponseTime);
    p99.push(bucket.p99ResponseTime);
  }
  return { counts: [x, requests, successes, failures, rejected], latency: [x, avg, p95, p99] };
}

const MARK_COLOUR = { open: "--bad", "half-open": "--warn", closed: "--ok" };

/** uPlot's draw hook: a dashed vertical line at each transition, coloured by the state it went to. */
function markTransitions(transitions) {
  return (u) => {
    const { ctx, bbox } = u;
    ctx.save();
    ctx.lineWidth = Math.max(1, devicePixelRatio);
    ctx.setLineDash([4 * devicePixelRatio, 3 * devicePixelRatio]);
    for (const t of transitions) {
      const x = u.valToPos(Date.parse(t.at) / 1000, "x", true);
      if (x < bbox.left || x > bbox.left + bbox.width) continue;
      ctx.strokeStyle = cssVar(MARK_COLOUR[t.to] ?? "--text-dim");
      ctx.beginPath();
      ctx.moveTo(x, bbox.top);
      ctx.lineTo(x, bbox.top + bbox.height);
      ctx.stroke();
    }
    ctx.restore();
  };
}

function options(uPlot, title, width, series, yLabel, stepped, transitions = [], endS = null) {
  const axisColour = cssVar("--text-dim");
  const gridColour = cssVar("--grid");
  const axis = { stroke: axisColour, grid: { stroke: gridColour, width: 1 }, ticks: { stroke: gridColour, width: 1 } };
  return {
    title, width, height: 190,
    cursor: { points: { size: 5 } },
    hooks: { draw: [markTransitions(transitions)] },
    legend: { live: true },
    // Through the end of the last bucket, so a transition within it is drawn.
    scales: { x: { time: true, range: endS === null ? undefined : (u, min, max) => [min, Math.max(max, endS)] } },
    axes: [axis, { ...axis, label: yLabel, size: 56 }],
    series: [{}, ...series.map(([label, colour, dash]) => ({
      label, stroke: cssVar(colour), width: 1.5, dash, spanGaps: false, points: { show: false },
      // Counts belong to a whole bucket: drawn as steps, not as slopes between bucket starts.
      paths: stepped ? uPlot.paths.stepped({ align: 1 }) : undefined,
    }))],
  };
}

function bucketLabel(ms) {
  if (ms % 86_400_000 === 0) return ms === 86_400_000 ? "day" : `${ms / 86_400_000} days`;
  if (ms % 3_600_000 === 0) return ms === 3_600_000 ? "hour" : `${ms / 3_600_000} hours`;
  if (ms % 60_000 === 0) return ms === 60_000 ? "minute" : `${ms / 60_000} minutes`;
  return `${ms / 1000} s`;
}

/**
 * Draws both charts into `container`; returns a function that frees them.
 * @param {HTMLElement} container
 * @param {any} series the /metrics/series answer
 */
export async function renderCharts(container, series, transitions = []) {
  const uPlot = await loadUPlot();
  clear(container);
  const { counts, latency } = columns(series);
  const withCalls = counts[1].filter((n) => n > 0).length;
  container.dataset.points = String(series.buckets.length);
  container.dataset.pointsWithCalls = String(withCalls);
  container.dataset.requests = String(counts[1].reduce((a, b) => a + b, 0));
  container.dataset.timeframe = series.timeframe;
  const first = counts[0][0], last = counts[0][counts[0].length - 1] + series.bucketMs / 1000;
  const marked = transitions.filter((t) => Date.parse(t.at) / 1000 >= first && Date.parse(t.at) / 1000 <= last);
  container.dataset.transitions = String(marked.length);
  const countsBox = h("div", { class: "chart", dataset: { chart: "counts" } });
  const latencyBox = h("div", { class: "chart", dataset: { chart: "latency" } });
  const marks = h("ul", { class: "chart-marks", "aria-label": "Transitions marked on the charts" },
    ...marked.map((t) => h("li", { class: `to-${t.to}`, title: t.cause.rule },
      h("span", { class: `mark-key to-${t.to}`, "aria-hidden": "true" }),
      ` ${new Date(t.at).toLocaleTimeString()} ${t.from} → ${t.to}: ${t.cause.rule}`)));
  container.append(countsBox, latencyBox, marks);
  const width = Math.max(320, container.clientWidth / 2 - 12);
  const plots = [
    new uPlot(options(uPlot, `Calls per ${bucketLabel(series.bucketMs)}`, width, [
      ["requests", "--chart-1"], ["successful", "--ok"], ["failed", "--bad"], ["rejected", "--warn", [4, 3]],
    ], "calls", true, marked, last), counts, countsBox),
    new uPlot(options(uPlot, "Latency (ms)", width, [
      ["avg", "--chart-1"], ["p95", "--warn"], ["p99", "--bad"],
    ], "ms", false, marked, last), latency, latencyBox),
  ];
  const resize = new ResizeObserver(() => {
    const w = Math.max(320, container.clientWidth / 2 - 12);
    plots.forEach((p) => p.setSize({ width: w, height: 190 }));
  });
  resize.observe(container);
  return () => { resize.disconnect(); plots.forEach((p) => p.destroy()); };
}
