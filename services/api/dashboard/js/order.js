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
