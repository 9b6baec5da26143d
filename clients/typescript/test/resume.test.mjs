// Session resume in the TypeScript client, against a real podnet server through the test
// kit's fault-injecting proxy (`cut-proxy`): a WebSocket that drops mid-stream is
// reconnected and the session resumed, nothing lost or repeated either way.

import { test } from "node:test";
import assert from "node:assert/strict";
import WebSocket from "ws";

import { Client } from "../dist/index.js";
import { startProxy, startServer, until } from "./helpers.mjs";

/** Quick reconnections, for tests. */
const QUICK = { initialBackoff: 5, maxBackoff: 50 };

test("through five cuts mid-stream, every message arrives once, in order, both ways", async (t) => {
  const server = await startServer();
  t.after(server.stop);
  const proxy = await startProxy(server.addr);
  t.after(proxy.stop);
  const client = new Client(proxy.url, { WebSocket, resume: QUICK });
  t.after(() => client.close());
  const got = [];
  const hooks = [];
  client.on("n", (msg) => got.push(msg.i));
  client.onReconnecting(({ attempt }) => hooks.push(`reconnecting ${attempt}`));
  client.onResumed(() => hooks.push("resumed"));
  await until(() => client.resumable, "the session granted");

  const N = 5_000;
  const CUTS = 5;
  const batch = N / CUTS;
  let midstream = 0;
  const resumes = () => hooks.filter((h) => h === "resumed").length;
  for (let cut = 0; cut < CUTS; cut++) {
    for (let i = cut * batch; i < (cut + 1) * batch; i++) {
      client.send({ action: "n", i, pad: "x".repeat(i % 200) });
    }
    // Cut while this batch's echoes are on their way back and its sends on their way out.
    await until(() => got.length > cut * batch + batch / 4, "echoes flowing");
    await proxy.command("cut both");
    if (got.length < (cut + 1) * batch) midstream += 1;
    await until(() => resumes() === cut + 1, `resume ${cut + 1}`);
  }
  await until(() => got.length >= N, `${N} echoes (have ${got.length})`);
  assert.deepEqual(got, [...Array(N).keys()]);
  // The cuts caught echoes on their way (else nothing was sent again).
  assert.ok(midstream > 0, "every cut came after its batch was through");
  // One session throughout: the server saw connection #1 drop and resume, never a second.
  // Its lines come from another process: wait for them rather than read them now.
  const serverResumes = () => server.lines.filter((l) => /^\[#1\] resumed/.test(l)).length;
  await until(() => serverResumes() >= CUTS, `the server's ${CUTS} "resumed" lines`);
  assert.equal(serverResumes(), CUTS);
  assert.ok(!server.lines.some((l) => l.startsWith("[#2]")), server.lines.slice(0, 5).join("\n"));
  // The hooks in order: each resume after its reconnection attempts.
  assert.equal(hooks[0], "reconnecting 1");
  assert.equal(hooks.at(-1), "resumed");
});

test("a close while the connection is down waits for the resume and loses nothing", async (t) => {
  const server = await startServer();
  t.after(server.stop);
  const proxy = await startProxy(server.addr);
  t.after(proxy.stop);
  const client = new Client(proxy.url, { WebSocket, resume: QUICK });
  await until(() => client.resumable, "the session granted");
  const reconnecting = new Promise((resolve) => client.onReconnecting(resolve));
  await proxy.command("cut both");
  await reconnecting;
  for (let i = 0; i < 10; i++) client.send({ action: "late", i });
  const info = await client.close("done");
  assert.equal(info.byServer, false);
  const gone = await server.waitLine(/\[#1\] disconnected: .*done/);
  const late = server.lines.slice(0, gone).filter((l) => l.includes('"action":"late"'));
  assert.equal(late.length, 10);
});

test("a server that no longer has the session refuses the resume, and the client says so", async (t) => {
  const first = await startServer();
  t.after(first.stop);
  const second = await startServer();
  t.after(second.stop);
  const proxy = await startProxy(first.addr);
  t.after(proxy.stop);
  const client = new Client(proxy.url, { WebSocket, resume: QUICK });
  await until(() => client.resumable, "the session granted");
  // The game moves to another server (as after a restart): the token means nothing there.
  await proxy.command(`target ${second.addr}`);
  await proxy.command("cut both");
  const info = await client.closed;
  assert.match(info.reason, /refused the resume: resume refused: the token is from another server/);
  assert.equal(info.byServer, true);
});

test("with nowhere to reconnect to, the client gives up after its attempts", async (t) => {
  const server = await startServer();
  t.after(server.stop);
  const proxy = await startProxy(server.addr);
  const client = new Client(proxy.url, { WebSocket, resume: { ...QUICK, maxAttempts: 3 } });
  const attempts = [];
  client.onReconnecting(({ attempt }) => attempts.push(attempt));
  await until(() => client.resumable, "the session granted");
  proxy.stop();
  const info = await client.closed;
  assert.deepEqual(attempts, [1, 2, 3]);
  assert.match(info.reason, /^not resumed: the connection dropped \(.*\), then 3 reconnection attempts failed/);
});

test("resume: false ends at the first drop, as before", async (t) => {
  const server = await startServer();
  t.after(server.stop);
  const proxy = await startProxy(server.addr);
  t.after(proxy.stop);
  const client = new Client(proxy.url, { WebSocket, resume: false });
  await new Promise((resolve) => client.on("connected", resolve));
  assert.equal(client.resumable, false);
  await proxy.command("cut both");
  const info = await client.closed;
  assert.equal(info.reason, "connection lost");
});
