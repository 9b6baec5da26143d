// Replicated state (podnet-state) in the TypeScript client, against a real podnet server
// (`podnet serve --state`: a key-value state; `secret:N` entries seen by client N only).

import { test } from "node:test";
import assert from "node:assert/strict";
import WebSocket from "ws";

import { Client, StateReplica } from "../dist/index.js";
import { startServer, until } from "./helpers.mjs";

/** The connection id in the server's `[N] connected ...` line at `index`. */
const idAt = (server, index) => Number(/^\[#(\d+)\]/.exec(server.lines[index])[1]);

test("two players follow a replicated state, each through its own view", async (t) => {
  const server = await startServer("--state");
  t.after(server.stop);
  const a = new Client(server.url, { WebSocket });
  const aLine = await server.waitLine(/^\[#\d+\] connected/);
  const b = new Client(server.url, { WebSocket });
  const bLine = await server.waitLine(/^\[#\d+\] connected/, aLine + 1);
  const [aId, bId] = [idAt(server, aLine), idAt(server, bLine)];
  const sa = a.state();
  const sb = b.state();
  const added = [];
  const removed = [];
  const changed = [];
  sb.onAdd(["*"], (value, path) => added.push(path[0]));
  sb.onRemove(["*"], (_, path) => removed.push(path[0]));
  sb.onChange(["score"], (value) => changed.push(value));
  const items = [];
  sb.onRemove(["list", "*"], (_, path) => items.push(path[1]));
  await until(() => sa.value !== undefined && sb.value !== undefined, "both whole states");

  a.send({ action: "put", key: "score", value: 1 });
  a.send({ action: "put", key: `secret:${aId}`, value: "a's" });
  b.send({ action: "put", key: `secret:${bId}`, value: "b's" });
  a.send({ action: "put", key: "list", value: [1, 2, 3] });
  await until(
    () => sb.value?.list?.length === 3 && sa.value?.[`secret:${aId}`] === "a's" && sb.value?.[`secret:${bId}`] === "b's",
    "the puts",
  );
  a.send({ action: "put", key: "list", value: [1] });
  await until(() => sb.value?.list?.length === 1, "the list cut");
  a.send({ action: "put", key: "score", value: 2 });
  a.send({ action: "del", key: "list" });
  // Each replica is waited for: they are two connections, in no order between them.
  await until(
    () =>
      sb.value?.score === 2 && sb.value?.list === undefined && sa.value?.score === 2 && sa.value?.list === undefined,
    "the change and the removal, at both",
  );
  // Closed before the server stops (else they would try to resume their sessions).
  await Promise.all([a.close(), b.close()]);

  assert.deepEqual(sa.value, { score: 2, [`secret:${aId}`]: "a's" });
  assert.deepEqual(sb.value, { score: 2, [`secret:${bId}`]: "b's" });
  // b never heard of a's secret.
  assert.deepEqual([...added].sort(), ["list", "score", `secret:${bId}`].sort());
  assert.deepEqual(removed, ["list"]);
  assert.deepEqual(changed, [2]);
  assert.deepEqual(items, [1, 2]);
});

test("a patch that does not fit is reported, not applied", () => {
  const state = new StateReplica("s");
  assert.throws(() => state.apply({ action: "state:patch", name: "s", ops: [] }), /before the whole state/);
  state.apply({ action: "state:full", name: "s", state: { a: [1] } });
  assert.throws(() => state.apply({ action: "state:patch", name: "s", ops: [[1, ["a", 5], 0]] }), /does not fit/);
  assert.throws(() => state.apply({ action: "state:patch", name: "s", ops: [[0, ["nope"]]] }), /does not fit/);
  assert.deepEqual(state.value, { a: [1] });
});
