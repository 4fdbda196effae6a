import assert from "node:assert/strict";
import { test } from "node:test";

import { clientPing, newSession, onServerMessage, socketUrl, subprotocols }
  from "../../../services/api/dashboard/js/protocol.js";
import { decodeClaims, tokenFromFragment } from "../../../services/api/dashboard/js/jwt.js";

const BASE = "ws://127.0.0.1:8080/api/admin/ws";

test("the token travels as a subprotocol, never in the URL", () => {
  assert.deepEqual(subprotocols("a.b.c"), ["fusebox.v1", "bearer.a.b.c"]);
  assert.equal(socketUrl(BASE, newSession(), 0), BASE);
});

test("a server ping is answered with a pong of the same timestamp", () => {
  const { reply } = onServerMessage(newSession(), { type: "ping", timestamp: 42 }, 50);
  assert.deepEqual(reply, { type: "pong", timestamp: 42 });
});

test("the answer to the client's own ping gives the round-trip time", () => {
  const { session } = clientPing(newSession(), 1000);
  const answered = onServerMessage(session, { type: "pong", timestamp: 1000 }, 1012).session;
  assert.equal(answered.rttMs, 12);
  assert.equal(answered.pendingPing, null);
  const stray = onServerMessage(answered, { type: "pong", timestamp: 5 }, 2000).session;
  assert.equal(stray.rttMs, 12);
});

test("connected keeps the session id and sequence, updates advance lastSeq, and a resume URL carries both", () => {
  let { session, effect } = onServerMessage(newSession(), {
    type: "connection:status", status: "connected", sessionId: "s1", seq: 7, resumed: false, snapshotSize: 2,
  }, 0);
  assert.deepEqual(effect, { type: "connected", resumed: false, snapshotSize: 2, replayed: 0 });
  ({ session, effect } = onServerMessage(session, { type: "service:update", service: "a", seq: 8, data: {} }, 0));
  assert.equal(effect.type, "services");
  assert.equal(session.lastSeq, 8);
  assert.equal(socketUrl(BASE, session, 2), `${BASE}?sessionId=s1&lastSeq=8&reconnectAttempts=2`);
});

test("a graceful shutdown is noticed before the socket closes", () => {
  const { session, effect } = onServerMessage(newSession(), { type: "connection:status", status: "disconnected" }, 0);
  assert.equal(session.serverClosing, true);
  assert.deepEqual(effect, { type: "closing" });
});

test("an error envelope means the server refused the socket", () => {
  const error = { code: "UNAUTHORIZED", message: "token expired" };
  assert.deepEqual(onServerMessage(newSession(), { error }, 0).effect, { type: "refused", error });
});

test("claims are decoded for display and a token in the fragment is found", () => {
  const payload = Buffer.from(JSON.stringify({ sub: "alice", exp: 1700000000, roles: ["admin"] })).toString("base64url");
  assert.deepEqual(decodeClaims(`h.${payload}.s`), { sub: "alice", exp: 1700000000, roles: ["admin"] });
  assert.equal(decodeClaims("not-a-token"), null);
  assert.equal(tokenFromFragment("#token=abc.def.ghi"), "abc.def.ghi");
  assert.equal(tokenFromFragment("#other=1"), null);
});
