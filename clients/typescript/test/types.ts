// Compiled (not run) by `npm test`: the README's typed handlers type-check, and a wrong
// field does not.
import { Client } from "../src/index.js";

interface Chat {
  action: "message";
  nickname: string;
  text: string;
}

const client = new Client("ws://127.0.0.1:5071/");
client.on<Chat>("message", (msg) => {
  const line: string = `${msg.nickname}: ${msg.text}`;
  void line;
});
client.on<Chat>("message", (msg) => {
  // @ts-expect-error: a Chat has no `score`.
  void msg.score;
});
client.off("message");
const open: boolean = client.isOpen;
void open;
void client.close("bye");

// A replicated state, typed.
interface Arena {
  players: Record<string, { x: number; y: number }>;
}
const arena = client.state<Arena>();
const players: Record<string, { x: number; y: number }> | undefined = arena.value?.players;
void players;
arena.onAdd(["players", "*"], (player, path) => void [player, path[1]]);
// @ts-expect-error: an Arena has no `score`.
void arena.value?.score;
