/** One line of text for an audit entry: what was asked, and why it ended as it did. */

function describeRequest(action, request) {
  if (!request || typeof request !== "object" || Array.isArray(request)) return "";
  if (action === "reset") {
    const parts = [request.reason ? `“${request.reason}”` : ""];
    if (request.force) parts.push("forced");
    const metadata = request.metadata && typeof request.metadata === "object" ? request.metadata : {};
    if (metadata.environment) parts.push(`env ${metadata.environment}`);
    if (metadata.notes) parts.push(`notes: ${metadata.notes}`);
    return parts.filter(Boolean).join(" · ");
  }
  return Object.entries(request).map(([key, value]) => `${key} ${JSON.stringify(value)}`).join(" · ");
}

/**
 * @param {{action: string, outcome: string, reason: string | null, errorCode: string | null,
 *          request: any, detail: any}} entry
 */
export function auditSummary(entry) {
  const asked = describeRequest(entry.action, entry.request) || entry.reason || "";
  const why = [entry.errorCode, entry.detail && typeof entry.detail.message === "string" ? entry.detail.message : ""]
    .filter(Boolean).join(": ");
  if (!why) return asked;
  return asked ? `${asked} — ${why}` : why;
}
