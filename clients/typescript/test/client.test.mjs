// The TypeScript client against a real podnet server: `podnet serve --echo`, started by
// each test on a free port (the CLI's testing server: it echoes every message, prints
// one line per connection, message and disconnect, and closes a client that sends
// `close-me` with the reason it gives).

import { test } from "node:test";
import assert from "node:assert/strict";
import WebSocket from "ws";

import { Client, PROTOCOL_VERSION } from "../dist/index.js";
import { WAIT, next, startServer, until } from "./helpers.mjs";

test("says hello, is greeted, and messages of every kind round-trip", async (t) => {
  const server = await startServer();
  t.after(server.stop);
  const client = new Client(server.url, { WebSocket });
  t.after(() => client.close());
  await next(client, "connected");
  await server.waitLine(/connected from .*\(podnet, classic\)/);

  const sent = {
    action: "state",
    n: 42,
    big: 2 ** 40,
    neg: -7,
    f: 1.5,
    text: "héllo ✓",
    list: [1, "two", [3]],
    nested: { a: { b: null } },
    flag: true,
    bytes: new Uint8Array([0, 1, 254, 255]),
  };
  const echoed = next(client, "state");
  client.send(sent);
  assert.deepEqual(await echoed, sent);

  const shorthand = next(client, "move");
  client.send("move", { x: 3 });
  assert.deepEqual(await shorthand, { action: "move", x: 3 });
  // The server saw it as a map whose first key is the action.
  await server.waitLine(/\{"action":"move","x":3\}/);
});

test("messages sent before the connection opens go out in order when it does", async (t) => {
  const server = await startServer();
  t.after(server.stop);
  const client = new Client(server.url, { WebSocket });
  t.after(() => client.close());
  const got = [];
  client.on("n", (msg) => got.push(msg.i));
  for (let i = 0; i < 200; i++) client.send({ action: "n", i });
  assert.equal(client.isOpen, false);
  await until(() => got.length === 200, "200 echoes");
  assert.deepEqual(got, [...Array(200).keys()]);
});

test("close(reason) delivers what was sent first, then the reason", async (t) => {
  const server = await startServer();
  t.after(server.stop);
  const client = new Client(server.url, { WebSocket });
  await next(client, "connected");
  for (let i = 0; i < 500; i++) client.send({ action: "n", i });
  const info = await client.close("gone to dinner");
  assert.equal(info.byServer, false);
  assert.equal(info.reason, "gone to dinner");
  const gone = await server.waitLine(/disconnected: .*gone to dinner/);
  const received = server.lines.slice(0, gone).filter((l) => l.includes('"action":"n"'));
  assert.equal(received.length, 500);
  assert.match(received[499], /"i":499/);
  assert.throws(() => client.send({ action: "late" }), /not connected/);
});

test("a close by the server reaches onDisconnected with its reason, once", async (t) => {
  const server = await startServer();
  t.after(server.stop);
  const client = new Client(server.url, { WebSocket });
  const seen = [];
  client.onDisconnected((info) => seen.push(info));
  await next(client, "connected");
  client.send({ action: "close-me", reason: "game over" });
  const info = await client.closed;
  assert.deepEqual(info, { reason: "game over", byServer: true, code: 1000 });
  assert.deepEqual(seen, [info]);
});

test("the heartbeat measures the round trip, and pings are answered", async (t) => {
  const server = await startServer("--heartbeat-ms", "50");
  t.after(server.stop);
  const client = new Client(server.url, { WebSocket, heartbeatInterval: 50 });
  t.after(() => client.close());
  await next(client, "connected");
  await until(() => client.rtt !== undefined, "a round trip measured");
  assert.ok(client.rtt >= 0 && client.rtt < WAIT, `rtt ${client.rtt}`);
  // The server's pings are answered: after several heartbeats it still holds the client
  // and echoes.
  const echoed = next(client, "still");
  client.send({ action: "still" });
  await echoed;
});

test("with pump, nothing is delivered until pump(), then everything in order", async (t) => {
  const server = await startServer();
  t.after(server.stop);
  const client = new Client(server.url, { WebSocket, pump: true });
  const got = [];
  client.on("connected", () => got.push("connected"));
  client.on("n", (msg) => got.push(msg.i));
  client.onDisconnected((info) => got.push(`gone: ${info.reason}`));
  for (let i = 0; i < 50; i++) client.send({ action: "n", i });
  client.send({ action: "close-me", reason: "done" });
  await client.closed;
  assert.deepEqual(got, [], "delivered only by pump()");
  assert.equal(client.pump(), 52);
  assert.deepEqual(got, ["connected", ...Array(50).keys(), "gone: done"]);
  assert.equal(client.pump(), 0);
});

test("unhandled actions reach the fallback; a throwing handler reaches onError", async (t) => {
  const server = await startServer();
  t.after(server.stop);
  const client = new Client(server.url, { WebSocket });
  t.after(() => client.close());
  client.on("connected", () => {});
  const fallback = new Promise((resolve) => client.fallback((msg) => resolve(msg.action)));
  const error = new Promise((resolve) => client.onError(resolve));
  client.on("boom", () => {
    throw new Error("handler failed");
  });
  client.send({ action: "whatever" });
  client.send({ action: "boom" });
  assert.equal(await fallback, "whatever");
  assert.match((await error).message, /handler failed/);
});

test("reserved or missing actions are refused with a clear error", () => {
  const client = new Client("ws://127.0.0.1:9/", { WebSocket });
  assert.throws(() => client.send({ action: "podnet:ping" }), /reserved/);
  assert.throws(() => client.send({ x: 1 }), /needs an `action`/);
  client.close();
});

test("a server that is not there ends in onDisconnected, saying so", async () => {
  // Port 9 (discard) on loopback: nothing listens there.
  const client = new Client("ws://127.0.0.1:9/", { WebSocket });
  const info = await client.closed;
  assert.equal(info.byServer, true);
  assert.match(info.reason, /could not connect/);
});

test("the protocol version is podnet's", () => {
  assert.equal(PROTOCOL_VERSION, 2);
});
