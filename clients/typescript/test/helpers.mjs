// Helpers for the client's tests: a real `podnet serve` started per test, the test kit's
// fault-injecting proxy (`cut-proxy`), and waiting on a client's messages with a timeout.
// PODNET_BIN and CUT_PROXY_BIN name the binaries; by default the workspace's debug builds.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { existsSync } from "node:fs";

export const WAIT = 10_000;
export const BIN =
  process.env.PODNET_BIN ??
  fileURLToPath(new URL("../../../target/debug/podnet", import.meta.url));

/**
 * Starts `podnet serve --echo` (or another mode, given in `extra`); resolves with its URL
 * and a way to wait for its lines.
 */
export async function startServer(...extra) {
  assert.ok(existsSync(BIN), `no podnet binary at ${BIN}: run \`cargo build -p podnet-cli\``);
  const modes = ["--echo", "--relay", "--bench", "--state"];
  const mode = extra.some((a) => modes.includes(a)) ? [] : ["--echo"];
  const child = spawn(BIN, ["serve", ...mode, "--port", "0", ...extra], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const lines = [];
  const waiters = [];
  createInterface({ input: child.stdout }).on("line", (line) => {
    lines.push(line);
    for (const waiter of [...waiters]) waiter();
  });
  /** Waits for a line matching `pattern` (from `from` on); returns its index. */
  const waitLine = (pattern, from = 0) =>
    new Promise((resolve, reject) => {
      const check = () => {
        const at = lines.findIndex((l, i) => i >= from && pattern.test(l));
        if (at >= 0) {
          waiters.splice(waiters.indexOf(check), 1);
          clearTimeout(timer);
          resolve(at);
        }
      };
      const timer = setTimeout(() => {
        waiters.splice(waiters.indexOf(check), 1);
        reject(new Error(`no line matching ${pattern} within ${WAIT} ms; got:\n${lines.join("\n")}`));
      }, WAIT);
      waiters.push(check);
      check();
    });
  const first = lines[await waitLine(/^listening on /)];
  const addr = first.split(" ")[2];
  return {
    addr,
    url: `ws://${addr}/`,
    lines,
    waitLine,
    stop: () => child.kill(),
  };
}

/** Resolves with the next message of `action` that `client` receives. */
export function next(client, action) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${action} within ${WAIT} ms`)), WAIT);
    client.on(action, (msg) => {
      clearTimeout(timer);
      client.off(action);
      resolve(msg);
    });
  });
}

/** Waits until `predicate()` holds, checking whenever `client` receives anything. */
export async function until(predicate, what) {
  const deadline = Date.now() + WAIT;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${WAIT} ms`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}


export const CUT_PROXY_BIN =
  process.env.CUT_PROXY_BIN ??
  fileURLToPath(new URL("../../../target/debug/cut-proxy", import.meta.url));

/**
 * Starts the test kit's fault-injecting proxy in front of `target` (HOST:PORT); resolves
 * with its URL and `command(line)`, which sends `cut both|client|server` or
 * `target ADDR` and resolves with the proxy's answer.
 */
export async function startProxy(target) {
  assert.ok(
    existsSync(CUT_PROXY_BIN),
    `no cut-proxy binary at ${CUT_PROXY_BIN}: run \`cargo build -p podnet-testkit\``,
  );
  const child = spawn(CUT_PROXY_BIN, [target], { stdio: ["pipe", "pipe", "inherit"] });
  const answers = [];
  const waiting = [];
  createInterface({ input: child.stdout }).on("line", (line) => {
    const waiter = waiting.shift();
    if (waiter) waiter(line);
    else answers.push(line);
  });
  const answer = () =>
    new Promise((resolve, reject) => {
      if (answers.length > 0) return resolve(answers.shift());
      const timer = setTimeout(() => reject(new Error(`cut-proxy did not answer within ${WAIT} ms`)), WAIT);
      waiting.push((line) => {
        clearTimeout(timer);
        resolve(line);
      });
    });
  const first = await answer();
  assert.match(first, /^listening /);
  const addr = first.split(" ")[1];
  return {
    url: `ws://${addr}/`,
    command: async (line) => {
      child.stdin.write(`${line}\n`);
      return answer();
    },
    stop: () => child.kill(),
  };
}
