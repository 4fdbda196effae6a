/**
 * Updates wait here until the next animation frame; a service updated twice in one frame is drawn once,
 * with its latest state. A removal replaces any update before it, an update after a removal revives.
 */

/** @typedef {{service: string, data?: object, removed: boolean}} PendingChange */

/**
 * @param {Map<string, PendingChange>} pending
 * @param {{type: string, service: string, data?: object}} message
 */
export function coalesce(pending, message) {
  if (message.type === "service:remove") {
    pending.set(message.service, { service: message.service, removed: true });
  } else if (message.type === "service:update") {
    pending.delete(message.service); // keeps insertion order = order of the latest change
    pending.set(message.service, { service: message.service, data: message.data, removed: false });
  }
  return pending;
}

/** Every pending change, in the order of their latest message; the buffer is left empty. */
export function drain(pending) {
  const changes = [...pending.values()];
  pending.clear();
  return changes;
}
