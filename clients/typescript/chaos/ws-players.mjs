// WebSocket players in podnet's chaos run (crates/podnet-bench/src/bin/chaos.rs): the
// TypeScript client (dist/, built by `npm run build`) over `ws`, resuming after cuts,
// plays the run's relay game on podnet's lobby nodes through the run's fault proxies.
// Each player checks every line of every game as the Rust players do: once, in order,
// or the game's early end reported.
//
//     node ws-players.mjs LINES STALL_MS SAY_MS FIRST COUNT ADDR...
//
// Plays until stdin closes, then prints `TALLY name=value ...` and exits.

import WebSocket from "ws";

import { Client } from "../dist/index.js";

const NODE_GONE = "the server running this game stopped";
const CUT_OFF = "the server running this game lost touch with yours";
const [lines, stallMs, sayMs, first, count] = process.argv.slice(2, 7).map(Number);
const addrs = process.argv.slice(7);
const tally = Object.fromEntries(
  [
    "games_done", "lines_checked", "lost", "repeated", "stalled", "ended_node_gone",
    "ended_left", "ended_other", "resumed", "home_lost", "classic_cut", "logins",
    "refused_logins",
  ].map((k) => [k, 0]),
);
const log = (line) => process.stderr.write(`chaos: ${line}\n`);
let stopping = false;

/** One player's life: connects, logs in, plays; logs in again elsewhere when it ends. */
function play(index, attempt) {
  if (stopping) return;
  const name = `w${index}x${attempt}`;
  const url = `ws://${addrs[(index + attempt) % addrs.length]}/`;
  const client = new Client(url, {
    WebSocket,
    resume: { initialBackoff: 20, maxBackoff: 300, maxAttempts: 20 },
    heartbeatInterval: 500,
    heartbeatTimeout: 2_000,
  });
  const player = { client, name, game: undefined, retryLogin: undefined };
  players[index - first] = player;
  const login = () => client.send({ action: "login", name });
  client.on("login_required", () => {
    tally.logins += 1;
    login();
  });
  client.on("login_refused", () => {
    tally.refused_logins += 1;
    player.retryLogin = Date.now() + 300;
  });
  client.on("game_start", (m) => {
    player.game = {
      session: m.session,
      name: "",
      expected: m.players.map(() => 1),
      nextSay: 1,
      lastLine: Date.now(),
      stalled: false,
    };
  });
  client.on("table", (m) => {
    if (player.game) player.game.name = m.game;
  });
  client.on("said", (m) => {
    const game = player.game;
    if (!game || m.seat >= game.expected.length) return;
    const expected = game.expected[m.seat];
    if (m.n < expected) {
      tally.repeated += 1;
      log(`${name} got line ${m.n} of seat ${m.seat} again (game ${game.session})`);
    } else {
      if (m.n > expected) {
        tally.lost += m.n - expected;
        log(`${name} missed lines ${expected}..${m.n} of seat ${m.seat} (game ${game.session})`);
      }
      game.expected[m.seat] = m.n + 1;
    }
    tally.lines_checked += 1;
    game.lastLine = Date.now();
  });
  client.on("game_over", (m) => {
    const game = player.game;
    player.game = undefined;
    if (!game) return;
    if (m.result === "done") {
      const missing = game.expected.reduce((sum, e) => sum + Math.max(0, lines + 1 - e), 0);
      if (missing > 0) {
        tally.lost += missing;
        log(`${name}'s game ${game.session} ended with ${missing} lines missing`);
      }
      tally.games_done += 1;
    } else if (m.result === NODE_GONE || m.result === CUT_OFF) tally.ended_node_gone += 1;
    else if (String(m.result).startsWith("left: ")) tally.ended_left += 1;
    else tally.ended_other += 1;
  });
  client.fallback(() => {});
  client.onResumed(() => {
    tally.resumed += 1;
  });
  client.onError(() => {});
  client.onDisconnected(() => {
    if (stopping) return;
    tally.home_lost += 1;
    players[index - first] = undefined;
    setTimeout(() => play(index, attempt + 1), 200);
  });
}

const players = [];
for (let i = 0; i < count; i++) play(first + i, 1);
const ticks = setInterval(() => {
  const now = Date.now();
  for (const player of players) {
    if (!player) continue;
    if (player.retryLogin !== undefined && now >= player.retryLogin) {
      player.retryLogin = undefined;
      player.client.send({ action: "login", name: player.name });
    }
    const game = player.game;
    if (!game) continue;
    if (game.name && game.nextSay <= lines) {
      player.client.send({ action: "say", game: game.name, n: game.nextSay });
      game.nextSay += 1;
    }
    if (!game.stalled && now - game.lastLine > stallMs) {
      game.stalled = true;
      tally.stalled += 1;
      log(`${player.name}'s game ${game.session} (${game.name}) stalled: expected ${game.expected}, next line ${game.nextSay}, open ${player.client.isOpen}`);
    }
  }
}, sayMs);

process.stdin.resume();
process.stdin.on("end", async () => {
  stopping = true;
  clearInterval(ticks);
  await Promise.all(
    players.filter(Boolean).map((p) => Promise.race([p.client.close("done"), new Promise((r) => setTimeout(r, 2_000))])),
  );
  process.stdout.write(`TALLY ${Object.entries(tally).map(([k, v]) => `${k}=${v}`).join(" ")}\n`);
  process.exit(0);
});
