/**
 * The one store of live state: every service's latest ServiceState and its request-rate samples.
 * Messages are coalesced and applied once per animation frame; views hear which services changed.
 */
import { coalesce, drain } from "./coalesce.js";
import { recordTotal } from "./sparkline.js";

/** @typedef {{state: any, samples: {bucket: number, total: number}[]}} Entry */
/** @typedef {(changed: Set<string>, removed: Set<string>) => void} Listener */

export class Store {
  constructor() {
    /** @type {Map<string, Entry>} */
    this.services = new Map();
    this.pending = new Map();
    /** @type {Set<Listener>} */
    this.listeners = new Set();
    this.frame = 0;
    this.snapshot = null;
    this.snapshotCompleteAt = null;
    this.snapshotJustCompleted = false;
  }

  /** Whether a whole snapshot has arrived, so a service absent from the store is absent from the fleet. */
  get complete() {
    return this.snapshotCompleteAt !== null && this.snapshot === null;
  }

  /** A fresh snapshot of `size` services follows: services absent from it are dropped once it is complete. */
  beginSnapshot(size) {
    this.snapshot = { expected: size, seen: new Set(), startedAt: performance.now() };
    performance.mark("fusebox:snapshot-start");
    if (size === 0) this.completeSnapshot();
  }

  completeSnapshot() {
    const snapshot = this.snapshot;
    this.snapshot = null;
    for (const name of this.services.keys()) {
      if (!snapshot.seen.has(name) && !this.pending.has(name)) coalesce(this.pending, { type: "service:remove", service: name });
    }
    this.snapshotCompleteAt = performance.now();
    this.snapshotJustCompleted = true;
    this.schedule();
  }

  /** @param {{type: string, service: string, data?: any}} message */
  receive(message) {
    coalesce(this.pending, message);
    if (this.snapshot) {
      this.snapshot.seen.add(message.service);
      if (this.snapshot.seen.size >= this.snapshot.expected) this.completeSnapshot();
    }
    this.schedule();
  }

  schedule() {
    if (!this.frame) this.frame = requestAnimationFrame(() => this.flush());
  }

  flush() {
    this.frame = 0;
    const started = performance.now();
    const now = Date.now();
    const changed = new Set();
    const removed = new Set();
    for (const change of drain(this.pending)) {
      if (change.removed) {
        if (this.services.delete(change.service)) removed.add(change.service);
        continue;
      }
      let entry = this.services.get(change.service);
      if (!entry) {
        entry = { state: change.data, samples: [] };
        this.services.set(change.service, entry);
      }
      entry.state = change.data;
      recordTotal(entry.samples, now, change.data.operations.total);
      changed.add(change.service);
    }
    // A completed snapshot is news even when it changed nothing: an empty fleet, a service that is not there.
    const completed = this.snapshotJustCompleted;
    this.snapshotJustCompleted = false;
    if (changed.size || removed.size || completed) for (const listener of this.listeners) listener(changed, removed);
    // One entry per frame with changes: what the live updates cost, for the browser's performance tools.
    performance.measure("fusebox:flush", { start: started, detail: { changed: changed.size, removed: removed.size } });
  }

  /** @param {Listener} listener @returns {() => void} unsubscribe */
  subscribe(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get(name) {
    return this.services.get(name)?.state ?? null;
  }

  clear() {
    this.services.clear();
    this.pending.clear();
  }
}
