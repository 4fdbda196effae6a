/** How the fleet is ordered: the worst first, so what needs an operator is at the top. */

const STATUS_RANK = { failed: 0, degraded: 1, healthy: 2 };
const STATE_RANK = { open: 0, "half-open": 1, closed: 2 };

/** failed, degraded, healthy; then open before half-open before closed; then lower success rate; then name. */
export function worstFirst(a, b) {
  return (STATUS_RANK[a.status] - STATUS_RANK[b.status])
    || (STATE_RANK[a.circuit.state] - STATE_RANK[b.circuit.state])
    || (a.operations.successRate - b.operations.successRate)
    || (a.service < b.service ? -1 : a.service > b.service ? 1 : 0);
}

export function byName(a, b) {
  return a.service < b.service ? -1 : a.service > b.service ? 1 : 0;
}

/** Most calls first. */
export function busiestFirst(a, b) {
  return (b.operations.total - a.operations.total) || byName(a, b);
}

export const ORDERS = { worst: worstFirst, name: byName, busiest: busiestFirst };

/** The sort key that decides a service's place under worstFirst; a change of it means the order may change. */
export function placeKey(state) {
  return `${state.status}|${state.circuit.state}|${state.operations.successRate}`;
}

/**
 * Which items may stay where they are when a list is put in a new order: the longest increasing run of their
 * current positions (-1 = not placed yet, never kept). Moving only the others moves as few DOM nodes as possible.
 * @param {number[]} positions current position of each item, in the new order
 * @returns {boolean[]} keep[i] is true when item i stays
 */
export function stayingItems(positions) {
  const tails = []; // tails[k]: index of the smallest last position of an increasing run of length k+1
  const previous = new Array(positions.length).fill(-1);
  for (let i = 0; i < positions.length; i++) {
    const p = positions[i];
    if (p < 0) continue;
    let low = 0;
    let high = tails.length;
    while (low < high) {
      const mid = (low + high) >> 1;
      if (positions[tails[mid]] < p) low = mid + 1; else high = mid;
    }
    previous[i] = low > 0 ? tails[low - 1] : -1;
    tails[low] = i;
  }
  const keep = new Array(positions.length).fill(false);
  for (let i = tails.length ? tails[tails.length - 1] : -1; i >= 0; i = previous[i]) keep[i] = true;
  return keep;
}
