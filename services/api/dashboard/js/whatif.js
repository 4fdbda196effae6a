/** Pure helpers of the what-if panel (docs/whatif.md): the range asked for, the figures compared, the bars drawn. */

const HOUR_MS = 3_600_000;

/** The ranges an operator can ask about, ending now. */
export const WHATIF_RANGES = {
  "1h": { label: "last 1 h", spanMs: HOUR_MS },
  "24h": { label: "last 24 h", spanMs: 24 * HOUR_MS },
  "7d": { label: "last 7 d", spanMs: 7 * 24 * HOUR_MS },
};

/** The request body for a candidate config over one of WHATIF_RANGES ending at `now` (epoch ms). */
export function whatifRequest(config, range, now) {
  const { spanMs } = WHATIF_RANGES[range];
  return { config, since: new Date(now - spanMs).toISOString(), until: new Date(now).toISOString() };
}

/** The figures of the two sides, one row each, in the order the panel shows them. */
export function whatifFigures(answer) {
  const row = (key, label, of) => ({ key, label, actual: of(answer.actual), candidate: of(answer.candidate) });
  return [
    row("incidents", "Incidents", (r) => r.incidents),
    row("timeOpenMs", "Time open", (r) => r.timeOpenMs),
    row("rejectedCalls", "Rejected calls", (r) => r.rejectedCalls),
    row("transitions", "Transitions", (r) => r.transitions.length),
  ];
}

/**
 * A side's timeline as bar segments: each `{from, to, circuit}` clipped to [from, to] with its left
 * offset and width as shares of the span (0–100), oldest first.
 */
export function circuitSegments(timeline, from, to) {
  const span = to - from;
  const out = [];
  if (span <= 0) return out;
  for (const segment of timeline) {
    const start = Math.max(Date.parse(segment.from), from);
    const end = Math.min(Date.parse(segment.to), to);
    if (end <= start) continue;
    out.push({ circuit: segment.circuit, start, end, left: ((start - from) / span) * 100,
               width: ((end - start) / span) * 100 });
  }
  return out;
}

/** The message of a refused what-if; VALIDATION_FAILED details not placed beside a field are listed. */
export function whatifErrorText(error, unplaced = []) {
  switch (error.code) {
    case "RANGE_BEYOND_RETENTION":
      return `The range starts before the oldest retained record: ${error.message}. Pick a shorter range.`;
    case "VALIDATION_FAILED":
      return unplaced.length ? `Refused: ${unplaced.map((d) => `${d.field}: ${d.issue}`).join("; ")}`
        : "Fix the marked fields.";
    case "NETWORK":
      return "The API did not answer. Check the connection and try again.";
    default:
      return `${error.code}: ${error.message}`;
  }
}
