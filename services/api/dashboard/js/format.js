/** Text for numbers and times, as the views show them. */

const integer = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });

/** 1,234 below 100k; 123k, 4.5M above, so a tile stays narrow. */
export function formatCount(n) {
  if (n < 100_000) return integer.format(n);
  if (n < 10_000_000) return `${Math.round(n / 1000)}k`;
  return `${(n / 1_000_000).toFixed(1)}M`;
}

/** A success rate as a percentage with one decimal, never rounding a failure up to 100 %. */
export function formatRate(rate) {
  const percent = Math.floor(rate * 1000) / 10;
  return `${percent.toFixed(1)}%`;
}

/**
 * Time left until a deadline: "12s", "1m 05s", "1h 02m"; "due" once reached (the server moves it on).
 * @param {number} remainingMs
 */
export function formatCountdown(remainingMs) {
  if (remainingMs <= 0) return "due";
  const seconds = Math.ceil(remainingMs / 1000);
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m ${String(seconds % 60).padStart(2, "0")}s`;
  return `${Math.floor(minutes / 60)}h ${String(minutes % 60).padStart(2, "0")}m`;
}

/** A duration in words for timelines: "45s", "12m", "3h 20m", "2d 4h". */
export function formatDuration(ms) {
  const seconds = Math.round(ms / 1000);
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours}h ${String(minutes % 60).padStart(2, "0")}m`;
  return `${Math.floor(hours / 24)}d ${hours % 24}h`;
}

/** HH:MM:SS in local time, or "—" for none. */
export function formatClock(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? "—" : date.toLocaleTimeString("en-GB", { hour12: false });
}

/** Date and time in local time, for lists. */
export function formatDateTime(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "—";
  return `${date.toLocaleDateString("en-CA")} ${date.toLocaleTimeString("en-GB", { hour12: false })}`;
}

/** Calls per second with a precision that fits a tile. */
export function formatPerSecond(rate) {
  if (rate === null) return "—/s";
  if (rate >= 100) return `${Math.round(rate)}/s`;
  return `${rate.toFixed(1)}/s`;
}
