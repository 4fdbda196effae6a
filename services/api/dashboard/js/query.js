/**
 * The fleet's query box: whitespace-separated terms, all of which must hold.
 *
 *   payments            name contains "payments"
 *   name:pay*           name matches the glob (* any run, ? one character)
 *   state:open          circuit state: closed | open | half-open
 *   status:failed       status: healthy | degraded | failed
 *   rate<0.95           success rate (also 95%); operators < <= > >= =
 *   failures>=3  total>1000  rejected>0  attempts>0  incidents>2
 *   -term / !term       hides what the term matches
 */

const STATES = ["closed", "open", "half-open"];
const STATUSES = ["healthy", "degraded", "failed"];

/** Numeric fields a comparison may name, and how to read them from a ServiceState. */
const NUMBERS = {
  rate: (s) => s.operations.successRate,
  failures: (s) => s.circuit.failureCount,
  total: (s) => s.operations.total,
  failed: (s) => s.operations.failed,
  rejected: (s) => s.operations.rejected,
  attempts: (s) => s.circuit.recoveryAttempts,
  incidents: (s) => s.circuit.totalIncidents,
};

const COMPARE = {
  "<": (a, b) => a < b,
  "<=": (a, b) => a <= b,
  ">": (a, b) => a > b,
  ">=": (a, b) => a >= b,
  "=": (a, b) => a === b,
};

/** @typedef {{test: (state: any) => boolean, text: string}} Term */

function globToRegExp(glob) {
  const escaped = glob.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
  return new RegExp(`^${escaped}$`, "i");
}

function parseNumber(text) {
  const percent = text.endsWith("%");
  const value = Number(percent ? text.slice(0, -1) : text);
  if (text === "" || Number.isNaN(value)) return null;
  return percent ? value / 100 : value;
}

/** @returns {{term: Term | null, error: string | null}} */
function parseTerm(text) {
  const comparison = /^([a-z]+)(<=|>=|<|>|=)(.*)$/i.exec(text);
  if (comparison) {
    const [, field, op, raw] = comparison;
    const read = NUMBERS[field.toLowerCase()];
    if (!read) return { term: null, error: `unknown field "${field}" (use ${Object.keys(NUMBERS).join(", ")})` };
    const value = parseNumber(raw);
    if (value === null) return { term: null, error: `"${raw}" is not a number in "${text}"` };
    const compare = COMPARE[op];
    return { term: { text, test: (s) => compare(read(s), value) }, error: null };
  }
  const colon = text.indexOf(":");
  if (colon > 0) {
    const key = text.slice(0, colon).toLowerCase();
    const value = text.slice(colon + 1).toLowerCase();
    if (key === "state") {
      if (!STATES.includes(value)) return { term: null, error: `state must be one of ${STATES.join(", ")}` };
      return { term: { text, test: (s) => s.circuit.state === value }, error: null };
    }
    if (key === "status") {
      if (!STATUSES.includes(value)) return { term: null, error: `status must be one of ${STATUSES.join(", ")}` };
      return { term: { text, test: (s) => s.status === value }, error: null };
    }
    if (key === "name") {
      const pattern = globToRegExp(text.slice(colon + 1));
      return { term: { text, test: (s) => pattern.test(s.service) }, error: null };
    }
    return { term: null, error: `unknown key "${key}" (use state:, status:, name:)` };
  }
  const needle = text.toLowerCase();
  return { term: { text, test: (s) => s.service.toLowerCase().includes(needle) }, error: null };
}

/**
 * @param {string} query
 * @returns {{terms: Term[], errors: string[]}} terms that failed to parse are left out and named in errors
 */
export function parseQuery(query) {
  const terms = [];
  const errors = [];
  for (const word of query.trim().split(/\s+/).filter(Boolean)) {
    const negated = word.length > 1 && (word[0] === "-" || word[0] === "!");
    const { term, error } = parseTerm(negated ? word.slice(1) : word);
    if (error) errors.push(error);
    else if (negated) terms.push({ text: word, test: (s) => !term.test(s) });
    else terms.push(term);
  }
  return { terms, errors };
}

/** @param {Term[]} terms */
export function matches(terms, state) {
  for (const term of terms) if (!term.test(state)) return false;
  return true;
}
