// The whiteboard example in a real headless Chromium, with repod's own pygame client and
// the example's Rust bot on the same board. Run by `cargo xtask browser`, which builds and
// finds everything and passes it in:
//
//   WHITEBOARD_BIN   the built `whiteboard` example
//   CHROMIUM         Debian's chromium (nothing downloads a browser)
//   PYTHON           the interop venv's python, with repodnet and pygame
//   REPOD_CLIENT     examples/whiteboard/client.py from repod's source distribution
//   SCREENSHOT       where to save the screenshot of a tab
//
// Two tabs, the bot and the repod client draw; a third tab joins late and gets the board
// in `initial`. Every participant must end with the same board, each drawer's strokes
// exactly as that drawer sent them (so every stroke arrived once, in order), and the page
// must show them. A screenshot of the late tab is saved.

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

/** Starts a program; collects its stdout lines; `line(re)` waits for one. */
function start(command, args) {
  const child = spawn(command, args, { stdio: ["pipe", "pipe", "inherit"] });
  const lines = [];
  const waiters = new Set();
  createInterface({ input: child.stdout }).on("line", (l) => {
    lines.push(l);
    for (const w of waiters) w();
  });
  const exited = new Promise((resolve) => child.on("exit", resolve));
  const line = (pattern) =>
    new Promise((resolve, reject) => {
      const check = () => {
        const found = lines.find((l) => pattern.test(l));
        if (found !== undefined) {
          waiters.delete(check);
          clearTimeout(timer);
          resolve(found);
        }
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`${command}: no line matching ${pattern}; got:\n${lines.join("\n")}`));
      }, WAIT);
      waiters.add(check);
      check();
    });
  /** Closes stdin (the programs' signal to report and stop) and waits for the exit. */
  const finish = async () => {
    child.stdin.end();
    await exited;
  };
  return { child, line, finish, lines };
}

/** Strokes as plain arrays of [x, y] (msgpack and JSON give the same). */
const norm = (view) =>
  Object.fromEntries(
    Object.entries(view).map(([id, strokes]) => [id, strokes.map((s) => s.map(([x, y]) => [x, y]))]),
  );

async function openTab(browser, url) {
  const page = await browser.newPage({ viewport: { width: 900, height: 640 } });
  page.on("pageerror", (err) => console.error("page error:", err));
  await page.goto(url);
  await page.waitForFunction(() => window.whiteboard?.connected === true, null, { timeout: WAIT });
  return page;
}

/** Draws a stroke with the mouse: real pointer events on the canvas. */
async function drawStroke(page, points) {
  const box = await page.locator("#board").boundingBox();
  const [first, ...rest] = points;
  await page.mouse.move(box.x + first[0], box.y + first[1]);
  await page.mouse.down();
  for (const [x, y] of rest) await page.mouse.move(box.x + x, box.y + y);
  await page.mouse.up();
}

/** A tab's board (each drawer's strokes as lists of points) and what it sent. */
const boardOf = (page) =>
  page.evaluate(() => ({
    lines: Object.fromEntries(
      Object.entries(window.whiteboard.lines).map(([id, strokes]) => [id, strokes.map((s) => s.points)]),
    ),
    sent: window.whiteboard.sent,
  }));

test("browser tabs, repod's pygame client and a Rust bot draw on one board", async (t) => {
  const server = start(env("WHITEBOARD_BIN"), ["127.0.0.1", "0", "--bot-strokes", "3", "--report"]);
  t.after(() => server.child.kill());
  const url = (await server.line(/^whiteboard on http:/)).split(" ")[2];
  const { hostname, port } = new URL(url);

  const repod = start(env("PYTHON"), [
    new URL("./repod_whiteboard.py", import.meta.url).pathname,
    hostname,
    port,
    env("REPOD_CLIENT"),
  ]);
  t.after(() => repod.child.kill());

  const browser = await chromium.launch({
    executablePath: env("CHROMIUM"),
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-dev-shm-usage",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  t.after(() => browser.close());

  const tabA = await openTab(browser, url);
  const tabB = await openTab(browser, url);
  await repod.line(/^repod drew$/);

  // Each tab draws two strokes with the mouse.
  await drawStroke(tabA, [[100, 100], [140, 110], [180, 130], [220, 160], [260, 200]]);
  await drawStroke(tabA, [[600, 80], [620, 120], [640, 160], [660, 200]]);
  await tabB.locator(".swatch").nth(4).click(); // blue, through the page's own palette
  await drawStroke(tabB, [[100, 500], [150, 480], [200, 470], [250, 470], [300, 480]]);
  await drawStroke(tabB, [[650, 450], [680, 420], [710, 390]]);

  // Everyone has drawn: 4 drawers (bot 3 strokes, repod 2, each tab 2), all points in.
  const expectedStrokes = [3, 2, 2, 2].sort().join(",");
  const complete = (lines) =>
    Object.values(lines)
      .map((s) => s.length)
      .filter((n) => n > 0)
      .sort()
      .join(",") === expectedStrokes &&
    Object.values(lines).every((strokes) => strokes.every((s) => s.length > 1));
  const settled = async (page) => {
    const summary = () =>
      page.evaluate(() =>
        JSON.stringify(Object.entries(window.whiteboard.lines).map(([id, s]) => [id, s.map((st) => st.points.length)])),
      );
    await page.waitForFunction(
      (expected) => {
        const lines = window.whiteboard.lines;
        const counts = Object.values(lines).map((s) => s.length).filter((n) => n > 0).sort().join(",");
        if (counts !== expected) return false;
        // The bot's strokes have 25 points each once it is done.
        return Object.values(lines).some((s) => s.length === 3 && s.every((st) => st.points.length === 25));
      },
      expectedStrokes,
      { timeout: WAIT },
    ).catch(async (err) => {
      throw new Error(`${err.message}; the board: ${await summary()}`);
    });
    return boardOf(page);
  };
  const a = await settled(tabA);
  const b = await settled(tabB);
  assert.ok(complete(a.lines));

  // A late joiner gets the whole board in `initial`.
  const tabC = await openTab(browser, url);
  const c = await settled(tabC);
  // Five players: the bot, repod's client and three tabs; `players` reached everyone.
  for (const tab of [tabA, tabB, tabC]) {
    await tab.waitForFunction(() => window.whiteboard.players === 5, null, { timeout: WAIT });
  }
  await tabC.screenshot({ path: env("SCREENSHOT") });

  // Stop the bot and the repod client: each prints what it saw.
  await repod.finish();
  await server.finish();
  const botView = JSON.parse((await server.line(/^bot view: /)).slice("bot view: ".length));
  const repodView = JSON.parse((await repod.line(/^repod view: /)).slice("repod view: ".length));
  const repodSent = JSON.parse((await repod.line(/^repod sent: /)).slice("repod sent: ".length)).strokes;

  const reference = norm(a.lines);
  // Drawers with no strokes (none here) would differ only by an empty entry.
  const drawn = (view) => Object.fromEntries(Object.entries(norm(view)).filter(([, s]) => s.length > 0));
  for (const [who, view] of [
    ["tab B", b.lines],
    ["late tab C (from initial)", c.lines],
    ["the Rust bot", botView],
    ["repod's pygame client", repodView],
  ]) {
    assert.deepEqual(drawn(view), drawn(reference), `${who} sees the same board as tab A`);
  }

  // Each drawer's strokes are exactly what it sent: nothing lost, nothing twice, in order.
  const byStrokes = (sent) =>
    Object.entries(reference).filter(([, strokes]) => JSON.stringify(strokes) === JSON.stringify(norm({ x: sent }).x));
  assert.equal(byStrokes(a.sent).length, 1, "tab A's strokes, once");
  assert.equal(byStrokes(b.sent).length, 1, "tab B's strokes, once");
  assert.equal(byStrokes(repodSent).length, 1, "repod's strokes, once");
  assert.equal(a.sent.length, 2);
  assert.equal(repodSent.length, 2);

  // The page shows them: the canvas is no longer blank.
  const inked = await tabC.evaluate(() => {
    const canvas = document.getElementById("board");
    const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
    let n = 0;
    for (let i = 3; i < data.length; i += 4) if (data[i] > 0) n++;
    return n;
  });
  assert.ok(inked > 2000, `only ${inked} inked pixels`);
});
