// repod's whiteboard in the browser: the same protocol as repod's pygame client, through
// podnet's TypeScript client (podnet-client.js, served by the game server itself).
// Everything drawn comes back from the server (relayed with the drawer's id) and is drawn
// from there, so every participant's board is the server's.

import { Client } from "/podnet-client.js";

const PALETTE = [
  [0, 0, 0], [255, 255, 255], [200, 40, 40], [40, 160, 40], [40, 80, 200], [255, 200, 0],
  [255, 120, 0], [160, 40, 200], [0, 200, 200], [255, 100, 150], [120, 80, 40], [140, 140, 140],
];
const SIZES = [["Thin", 2], ["Medium", 5], ["Thick", 10]];

const canvas = document.getElementById("board");
const ink = canvas.getContext("2d");
const status = document.getElementById("status");

// What this page knows, readable by tests: each drawer's strokes, the player count, and
// the strokes this page sent.
const board = { lines: {}, players: 0, status: "connecting...", connected: false, sent: [] };
window.whiteboard = board;

let color = PALETTE[2];
let thickness = 5;

// ---- the sidebar ----
const palette = document.getElementById("palette");
PALETTE.forEach((rgb, i) => {
  const swatch = document.createElement("span");
  swatch.className = "swatch" + (rgb === color ? " on" : "");
  swatch.style.background = `rgb(${rgb})`;
  swatch.onclick = () => {
    color = PALETTE[i];
    for (const s of palette.children) s.classList.toggle("on", s === swatch);
  };
  palette.appendChild(swatch);
});
const sizes = document.getElementById("sizes");
for (const [label, size] of SIZES) {
  const button = document.createElement("button");
  button.textContent = label;
  button.onclick = () => (thickness = size);
  sizes.appendChild(button);
}

// ---- drawing what the server says ----
function rgb(c) {
  return `rgb(${(c ?? [0, 0, 0]).join(",")})`;
}

function dot(stroke, [x, y]) {
  ink.fillStyle = rgb(stroke.color);
  ink.beginPath();
  ink.arc(x, y, Math.max(stroke.thickness / 2, 1), 0, 2 * Math.PI);
  ink.fill();
}

function segment(stroke, [x0, y0], [x1, y1]) {
  ink.strokeStyle = rgb(stroke.color);
  ink.lineWidth = stroke.thickness;
  ink.lineCap = "round";
  ink.beginPath();
  ink.moveTo(x0, y0);
  ink.lineTo(x1, y1);
  ink.stroke();
}

function redraw() {
  ink.clearRect(0, 0, canvas.width, canvas.height);
  for (const strokes of Object.values(board.lines)) {
    for (const stroke of strokes) {
      dot(stroke, stroke.points[0]);
      for (let i = 1; i < stroke.points.length; i++) segment(stroke, stroke.points[i - 1], stroke.points[i]);
    }
  }
}

const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/`;
const client = new Client(url, { pump: true });

client.on("connected", () => {
  board.connected = true;
  board.status = "connected";
});
client.on("initial", (msg) => {
  board.lines = {};
  for (const [id, info] of Object.entries(msg.lines)) {
    board.lines[id] = info.lines.map((l) => ({ points: [...l.points], color: l.color, thickness: l.thickness ?? 3 }));
  }
  redraw();
});
client.on("startline", (msg) => {
  const stroke = { points: [msg.point], color: msg.color ?? [0, 0, 0], thickness: msg.thickness ?? 3 };
  (board.lines[msg.id] ??= []).push(stroke);
  dot(stroke, msg.point);
});
client.on("drawpoint", (msg) => {
  const strokes = (board.lines[msg.id] ??= []);
  if (strokes.length === 0) {
    strokes.push({ points: [msg.point], color: [0, 0, 0], thickness: 3 });
    return;
  }
  const stroke = strokes[strokes.length - 1];
  segment(stroke, stroke.points[stroke.points.length - 1], msg.point);
  stroke.points.push(msg.point);
});
client.on("players", (msg) => (board.players = msg.count));
client.onDisconnected(({ reason }) => {
  board.connected = false;
  board.status = `disconnected: ${reason}`;
});

// ---- drawing with the mouse (or a finger) ----
let last = null;
function at(event) {
  const r = canvas.getBoundingClientRect();
  return [Math.round(event.clientX - r.left), Math.round(event.clientY - r.top)];
}
canvas.addEventListener("pointerdown", (event) => {
  canvas.setPointerCapture(event.pointerId);
  last = at(event);
  client.send({ action: "startline", point: last, color, thickness });
  board.sent.push([last]);
});
canvas.addEventListener("pointermove", (event) => {
  if (last === null || (event.buttons & 1) === 0) return;
  const point = at(event);
  if (Math.hypot(point[0] - last[0], point[1] - last[1]) > 1.5) {
    last = point;
    client.send({ action: "drawpoint", point });
    board.sent[board.sent.length - 1].push(point);
  }
});
canvas.addEventListener("pointerup", () => (last = null));

// ---- the game loop: network events are handled once per frame ----
function frame() {
  client.pump();
  status.textContent = `${board.status}  |  ${board.players} players`;
  requestAnimationFrame(frame);
}
requestAnimationFrame(frame);
