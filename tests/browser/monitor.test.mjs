// The live monitor (/monitor, beside /metrics) in a real headless Chromium, while load
// generators drive the bench server. Run by `cargo xtask browser`, which passes:
//
//   BENCH_SERVER_BIN    the built `bench_server` example
//   LOADGEN_BIN         podnet-bench's load generator
//   CHROMIUM            Debian's chromium
//   SCREENSHOT_MONITOR  where to save the screenshot
//
// The page must show players, messages per second and round trips read from /metrics,
// and draw them; a screenshot is saved (docs/images/monitor.png is one).

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

const WAIT = 20_000;
const env = (name) => {
  const value = process.env[name];
  assert.ok(value, `${name} is not set: run this through \`cargo xtask browser\``);
  return value;
};

/** Starts the bench server; resolves with its game and metrics addresses. */
function startServer() {
  const child = spawn(
    env("BENCH_SERVER_BIN"),
    ["127.0.0.1", "0", "--metrics", "127.0.0.1:0", "--heartbeat-ms", "50"],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  const found = {};
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("the bench server did not start")), WAIT);
    createInterface({ input: child.stdout }).on("line", (line) => {
      const game = line.match(/^bench server on (\S+)/);
      const metrics = line.match(/^metrics on (\S+)/);
      if (game) found.game = game[1];
      if (metrics) found.metrics = metrics[1];
      if (found.game && found.metrics) {
        clearTimeout(timer);
        resolve({ child, ...found });
      }
    });
  });
}

/** Runs the load generator with `args` again and again until `stop()`. */
function keepLoading(args) {
  let stopped = false;
  let current = null;
  const loop = (async () => {
    while (!stopped) {
      current = spawn(env("LOADGEN_BIN"), args, { stdio: "ignore" });
      await new Promise((resolve) => current.on("exit", resolve));
    }
  })();
  return async () => {
    stopped = true;
    current?.kill();
    await loop;
  };
}

test("the monitor page charts players, messages and round trips", { timeout: 60_000 }, async () => {
  const server = await startServer();
  const browser = await chromium.launch({
    executablePath: env("CHROMIUM"),
    args: ["--no-sandbox"],
  });
  // A podnet client pinging through pump() (its round trips measured by the heartbeat),
  // and bursts of broadcasts to 20 clients.
  const stops = [
    keepLoading(["rtt-pump", server.game, "4000"]),
    keepLoading(["fanout", server.game, "20", "300"]),
  ];
  try {
    const page = await browser.newPage({ viewport: { width: 960, height: 760 } });
    await page.goto(`http://${server.metrics}/monitor`);
    const number = async (id) => {
      const text = (await page.textContent(`#${id}`)).trim();
      return text === "-" ? null : parseFloat(text);
    };
    // Wait until every figure has been seen moving.
    const deadline = Date.now() + WAIT;
    let seen = { players: 0, in: 0, out: 0, p99: null };
    while (Date.now() < deadline) {
      seen = {
        players: Math.max(seen.players, (await number("players")) ?? 0),
        in: Math.max(seen.in, (await number("msgs-in")) ?? 0),
        out: Math.max(seen.out, (await number("msgs-out")) ?? 0),
        p99: (await number("rtt-p99")) ?? seen.p99,
      };
      if (seen.players > 0 && seen.in > 0 && seen.out > 0 && seen.p99 !== null) break;
      await page.waitForTimeout(200);
    }
    assert.ok(seen.players >= 1, `players never shown: ${JSON.stringify(seen)}`);
    assert.ok(seen.in > 0 && seen.out > 0, `messages per second never shown: ${JSON.stringify(seen)}`);
    assert.ok(seen.p99 > 0, `round trips never shown: ${JSON.stringify(seen)}`);
    assert.match(await page.textContent("#status"), /^ready/);
    // Let the charts fill a little (MONITOR_FILL_MS, for a picture for the docs), then
    // keep a picture.
    await page.waitForTimeout(Number(process.env.MONITOR_FILL_MS ?? 4000));
    await page.screenshot({ path: env("SCREENSHOT_MONITOR"), fullPage: true });
  } finally {
    for (const stop of stops) await stop();
    await browser.close();
    server.child.kill("SIGTERM");
  }
});
