// A hello that reaches the server after the server settled the connection for its silence
// (a lost packet, a busy machine: later than the server's `hello_wait`). The server's side
// of this is tested in podnet itself; here a scripted server plays it exactly, every time:
// it says `podnet:hello` with `silent: true` and greets, then answers the client's hello.

import { test } from "node:test";
import assert from "node:assert/strict";
import WebSocket, { WebSocketServer } from "ws";
import { decode, encode } from "@msgpack/msgpack";

import { Client, PROTOCOL_VERSION } from "../dist/index.js";
import { next, until } from "./helpers.mjs";

/** A server that settles every connection before reading anything, then answers the
 * client's hello with `answer(hello)` (a hello's fields, or nothing). */
async function scriptedServer(answer) {
  const wss = new WebSocketServer({ port: 0, host: "127.0.0.1" });
  await new Promise((resolve) => wss.once("listening", resolve));
  const seen = [];
  wss.on("connection", (ws) => {
    const send = (msg) => ws.send(encode(msg));
    send({ action: "podnet:hello", protocol: PROTOCOL_VERSION, type: "classic", silent: true });
    send({ action: "connected" });
    ws.on("message", (data) => {
      const msg = decode(data);
      seen.push(msg);
      if (msg.action === "podnet:hello") {
        const fields = answer(msg);
        if (fields) send({ action: "podnet:hello", protocol: PROTOCOL_VERSION, ...fields });
      } else if (!msg.action.startsWith("podnet:")) {
        send(msg); // an echo
      }
    });
  });
  return {
    url: `ws://127.0.0.1:${wss.address().port}/`,
    seen,
    stop: () => {
      for (const ws of wss.clients) ws.terminate();
      wss.close();
    },
  };
}

test("told it was settled for its silence, a client still gets the resumable session it asked for", async (t) => {
  const server = await scriptedServer(() => ({ type: "classic", token: "late-grant" }));
  t.after(server.stop);
  const client = new Client(server.url, { WebSocket, resume: { initialBackoff: 5 } });
  t.after(() => client.close());
  await next(client, "connected");
  // The greeting came before the grant: it is not counted, and nothing is dropped.
  await until(() => client.resumable, "the session granted by the answer to its hello");
  const echoed = next(client, "n");
  client.send({ action: "n", i: 1 });
  assert.deepEqual(await echoed, { action: "n", i: 1 });
  assert.equal(server.seen[0].action, "podnet:hello");
  assert.equal(server.seen[0].resume, true);
});

test("without a grant in the answer, the session is a plain one", async (t) => {
  const server = await scriptedServer(() => ({ type: "classic" }));
  t.after(server.stop);
  const client = new Client(server.url, { WebSocket, resume: { initialBackoff: 5 } });
  t.after(() => client.close());
  await next(client, "connected");
  await until(() => server.seen.length > 0, "the client's hello");
  const echoed = next(client, "n");
  client.send({ action: "n", i: 2 });
  await echoed;
  assert.equal(client.resumable, false);
});

test("a client that asked for another connection type fails, saying why", async (t) => {
  const server = await scriptedServer(() => undefined);
  t.after(server.stop);
  const client = new Client(server.url, { WebSocket, type: "spectator" });
  const info = await new Promise((resolve) => client.onDisconnected(resolve));
  assert.match(
    info.reason,
    /settled this connection as "classic" before its hello .*"spectator".*connect again/,
  );
});

test("a first connection that fails before it opens is tried once more", async (t) => {
  // The first upgrade request is answered with repod framing (what a podnet server sends
  // a connection it took for a repod one); the second is upgraded.
  const http = await import("node:http");
  const wss = new WebSocketServer({ noServer: true });
  let upgrades = 0;
  const server = http.createServer();
  server.on("upgrade", (request, socket, head) => {
    upgrades += 1;
    if (upgrades === 1) {
      socket.end(Buffer.from([0, 0, 0, 0x12, 0x81, 0xa6, ...Buffer.from("action"), 0xa9, ...Buffer.from("connected")]));
      return;
    }
    wss.handleUpgrade(request, socket, head, (ws) => ws.send(encode({ action: "connected" })));
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(() => {
    for (const ws of wss.clients) ws.terminate();
    server.close();
  });
  const client = new Client(`ws://127.0.0.1:${server.address().port}/`, { WebSocket });
  t.after(() => client.close());
  await next(client, "connected");
  assert.equal(upgrades, 2);
});
