// The WebSocket fan-out bench's load generator: many dashboard sockets in one Node.js process (the `ws` package).
//
//   node bench/ws_clients.mjs URL TOKEN COUNT [fanout|e2e] [deflate]
//
// Opens COUNT sockets to URL with the subprotocols a browser offers (fusebox.v1, bearer.<TOKEN>) and, with
// `deflate`, offering permessage-deflate as browsers do; answers the server's pings, and prints
// {"ready":n,"snapshot":{...},"client_cpu_ms":c} once every socket has its snapshot: per socket, the time from
// opening it to its first message (connection:status) and to its last snapshot message; c is this process's CPU
// since it began opening them. Then, on stdin:
//   start  forget what was received so far and start recording
//   stop   print what was recorded, as one JSON line
//   exit   close the sockets and exit
// A pushed update carries "benchSentAt":<epoch s>,"benchCircuit":<0|1> (written by the bench into the
// breaker-states record); a `service:batch` frame carries several. Latency is receipt time minus benchSentAt,
// per delivery and per update to its last receiving client ("received by every client").
// In e2e mode nothing of the bench is in the messages: each service:update is known by its service, circuit state
// and operations.total, and `stop` prints, per update in the order first received, [service, state, total, epoch ms
// of its receipt by the last client to get it, clients that got it]; the bench matches them to the SDK's calls.
import { createInterface } from "node:readline";
import WebSocket from "ws";

const [url, token, countArg, mode = "fanout", compression = ""] = process.argv.slice(2);
const count = Number(countArg);
const e2e = mode === "e2e";
const UPDATE = /^\{"type":"service:update","service":"([^"]*)".*?"circuit":\{"state":"([a-z-]+)".*?"operations":\{"total":(\d+)/;
const SENT_AT = /"benchSentAt":([0-9.]+),"benchCircuit":([01])/g;
const CONNECTING_AT_ONCE = 100;

let recording = false;
let ready = 0;
let closed = 0;
const deliveries = { "1": [], "0": [] };
const lastReceipt = new Map(); // benchSentAt -> [circuit, latest latency, receipts]
const sockets = [];
const updates = new Map(); // "service state total" -> [epoch ms of the latest receipt, receipts]
const snapshotFirst = [];
const snapshotLast = [];
let cpuAtStart = process.cpuUsage();
let startedAt = performance.now();

function onMessage(ws, state, data) {
  const text = data.toString();
  if (state.snapshotLeft === null) {
    snapshotFirst.push((performance.now() - state.openedAt) / 1000);
    const status = JSON.parse(text);
    state.snapshotLeft = status.snapshotSize ?? 0;
    if (state.snapshotLeft === 0) markReady(state);
    return;
  }
  if (text.startsWith('{"type":"ping"')) {
    ws.send(text.replace('"ping"', '"pong"'));
    return;
  }
  if (!state.ready) {
    state.snapshotLeft -= 1;
    if (state.snapshotLeft <= 0) markReady(state);
    return;
  }
  if (!recording) return;
  if (e2e) {
    const match = UPDATE.exec(text);
    if (match === null) return;
    const at = performance.timeOrigin + performance.now();
    const key = `${match[1]} ${match[2]} ${match[3]}`;
    const seen = updates.get(key);
    if (seen === undefined) updates.set(key, [at, 1]);
    else { seen[0] = at; seen[1] += 1; }
    return;
  }
  const now = Date.now() / 1000;
  for (const match of text.matchAll(SENT_AT)) {
    const latency = now - Number(match[1]);
    deliveries[match[2]].push(latency);
    const seen = lastReceipt.get(match[1]);
    if (seen === undefined) lastReceipt.set(match[1], [match[2], latency, 1]);
    else { seen[1] = Math.max(seen[1], latency); seen[2] += 1; }
  }
}

function markReady(state) {
  if (state.ready) return;
  state.ready = true;
  snapshotLast.push((performance.now() - state.openedAt) / 1000);
  ready += 1;
  if (ready === count) {
    const cpu = process.cpuUsage(cpuAtStart);
    console.log(JSON.stringify({ ready, snapshot: { first: summary(snapshotFirst), last: summary(snapshotLast) },
                                 client_cpu_ms: (cpu.user + cpu.system) / 1000 }));
  }
}

function open(i) {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, ["fusebox.v1", `bearer.${token}`], { perMessageDeflate: compression === "deflate" });
    const state = { snapshotLeft: null, ready: false, openedAt: performance.now() };
    ws.on("message", (data) => onMessage(ws, state, data));
    ws.on("open", () => resolve());
    ws.on("error", (err) => { console.error(`socket ${i}: ${err.message}`); resolve(); });
    ws.on("close", () => { closed += 1; });
    sockets.push(ws);
  });
}

function percentile(values, p) {
  if (values.length === 0) return null;
  const ordered = Float64Array.from(values).sort();
  return ordered[Math.min(ordered.length - 1, Math.floor((p / 100) * ordered.length))] * 1000;
}

function summary(values) {
  return { n: values.length, p50_ms: percentile(values, 50), p99_ms: percentile(values, 99),
           max_ms: percentile(values, 100) };
}

function reportUpdates() {
  const rows = [];
  for (const [key, [at, receipts]] of updates) {
    const [service, circuit, total] = key.split(" ");
    rows.push([service, circuit, Number(total), at, receipts]);
  }
  const cpu = process.cpuUsage(cpuAtStart);
  const seconds = (performance.now() - startedAt) / 1000;
  console.log(JSON.stringify({ clients: ready, closed, updates: rows,
                               client_cpu_cores: (cpu.user + cpu.system) / 1e6 / seconds }));
}

function report() {
  if (e2e) { reportUpdates(); return; }
  const everyClient = { "1": [], "0": [] };
  let incomplete = 0;
  for (const [circuit, latency, receipts] of lastReceipt.values()) {
    if (receipts < ready) incomplete += 1;
    everyClient[circuit].push(latency);
  }
  const cpu = process.cpuUsage(cpuAtStart);
  const seconds = (performance.now() - startedAt) / 1000;
  console.log(JSON.stringify({
    clients: ready, closed, incomplete_updates: incomplete,
    circuit: { deliveries: summary(deliveries["1"]), every_client: summary(everyClient["1"]) },
    other: { deliveries: summary(deliveries["0"]), every_client: summary(everyClient["0"]) },
    client_cpu_cores: (cpu.user + cpu.system) / 1e6 / seconds,
  }));
}

const lines = createInterface({ input: process.stdin });
lines.on("line", (line) => {
  const command = line.trim();
  if (command === "start") {
    deliveries["1"] = []; deliveries["0"] = []; lastReceipt.clear(); updates.clear();
    cpuAtStart = process.cpuUsage(); startedAt = performance.now(); recording = true;
  } else if (command === "stop") {
    recording = false;
    report();
  } else if (command === "exit") {
    for (const ws of sockets) ws.terminate();
    process.exit(0);
  }
});

for (let i = 0; i < count; i += CONNECTING_AT_ONCE) {
  const batch = [];
  for (let j = i; j < Math.min(count, i + CONNECTING_AT_ONCE); j++) batch.push(open(j));
  await Promise.all(batch);
}
