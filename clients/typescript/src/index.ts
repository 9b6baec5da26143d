/**
 * podnet's client for browsers and Node >= 20: connects to a podnet server over
 * WebSocket (`ws://` or `wss://`, the same port as its TCP players) and speaks podnet's
 * model, repod's names: messages are plain objects with an `action`, handlers are
 * registered by action, and a game loop may call `pump()` once per frame.
 *
 * ```ts
 * import { Client } from "podnet-client";
 *
 * const client = new Client("ws://localhost:5071/");
 * client.on("connected", () => client.send({ action: "nickname", nickname: "ada" }));
 * client.on("message", (msg) => console.log(msg.text));
 * client.onDisconnected(({ reason }) => console.log("gone:", reason));
 * ```
 *
 * On the wire each WebSocket message is one binary message holding the msgpack map,
 * without repod's 4-byte length (see the project's docs/browser.md).
 *
 * A dropped connection (Wi-Fi blip, network change, a laptop waking up) does not end the
 * game: the client reconnects with backoff and resumes its session on the server, and
 * nothing sent either way is lost or repeated (see the project's docs/resume.md).
 *
 * @module
 */

import { decode, encode } from "@msgpack/msgpack";

/** The podnet protocol version this client speaks (`podnet:hello`'s `protocol`). */
import { StateReplica } from "./state.js";

export { StateReplica } from "./state.js";
export type { Path, PathStep, Pattern, StateListener } from "./state.js";

export const PROTOCOL_VERSION = 2;

/** A message: a map with an `action`, and whatever fields the game gives it. */
export interface Message {
  action: string;
  [field: string]: unknown;
}

/** Why a connection ended, given to `onDisconnected` handlers and by `closed`. */
export interface Disconnect {
  /** In words: the server's `podnet:close` reason, the close frame's, or what happened. */
  reason: string;
  /** Whether the server (or the network) ended it, rather than `close()` on this side. */
  byServer: boolean;
  /** The WebSocket close code: 1000 for a close with a reason, 1006 for a lost connection. */
  code: number;
}

/** Given to `onReconnecting` handlers: the connection dropped and the client is reconnecting. */
export interface Reconnecting {
  /** Which attempt comes next, from 1. */
  attempt: number;
  /** Why the connection dropped (before the first attempt), or why the last attempt failed. */
  reason: string;
}

/**
 * How a client resumes its session when the connection drops; every field is optional.
 * The defaults are those of podnet's Rust client.
 */
export interface ResumeOptions {
  /** Milliseconds before the first reconnection attempt; doubled at each one. Default: 100. */
  initialBackoff?: number;
  /** The longest pause between attempts, in milliseconds. Default: 5,000. */
  maxBackoff?: number;
  /** Attempts before giving up (the disconnect then says "not resumed"). Default: 12. */
  maxAttempts?: number;
  /** Milliseconds a reconnection waits for the server's answer to its resume. Default: 5,000. */
  answerTimeout?: number;
  /** Acknowledge the server's messages every this many. Default: 128. */
  ackEvery?: number;
  /** ... or every this many bytes of them. Default: 65,536. */
  ackBytes?: number;
  /** ... or this many milliseconds after the first unacknowledged one. Default: 50. */
  ackDelay?: number;
  /**
   * The most bytes of sent messages kept until the server acknowledges them (they are
   * sent again after a resume). Past it `send` throws rather than keeping more: the
   * connection is down for long, or the server does not read. Default: 4 MiB.
   */
  maxUnackedBytes?: number;
}

/** What a handler receives: the message, and the client it came to. */
export type Handler = (message: Message, client: Client) => void;

/** The parts of a WebSocket this client uses: the browser's, Node 22's, or the `ws` package's. */
export interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  readonly bufferedAmount: number;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
}

/** A WebSocket constructor, as `new WebSocket(url, protocols)`. */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

/** Settings of a client; every field is optional. */
export interface ClientOptions {
  /**
   * Deliver messages only when `pump()` is called (from a `requestAnimationFrame` loop,
   * say) instead of as they arrive. Default: `false` (callbacks as messages arrive).
   */
  pump?: boolean;
  /**
   * With `pump`, the most events that may wait for `pump()`. Past it the client closes
   * with "fell behind", rather than holding an unbounded backlog (a hidden browser tab
   * stops calling `requestAnimationFrame`). Default: 10,000.
   */
  maxQueued?: number;
  /** The connection type asked for in `podnet:hello`. Default: `"classic"` (a player). */
  type?: string;
  /**
   * Say `podnet:hello` first, which makes this a podnet peer (heartbeat, RTT, close
   * reasons). Turn off to behave exactly as a repod client. Default: `true`.
   */
  hello?: boolean;
  /** Milliseconds between `podnet:ping`s to a podnet server; 0 for none. Default: 5,000. */
  heartbeatInterval?: number;
  /**
   * Close when nothing has come from a podnet server for this many milliseconds.
   * Default: 30,000.
   */
  heartbeatTimeout?: number;
  /** Give up on a connection not open within this many milliseconds. Default: 10,000. */
  connectTimeout?: number;
  /**
   * The WebSocket implementation. Default: the global `WebSocket` (browsers, Node >= 22).
   * On Node 20, pass the `ws` package's: `new Client(url, { WebSocket })`.
   */
  WebSocket?: WebSocketConstructor;
  /**
   * Ask a podnet server for a resumable session, and resume it when the connection drops
   * (`onReconnecting`, then `onResumed`, or `onDisconnected` if it gives up): `true` with
   * the defaults, settings, or `false` to end at a drop. Default: `true`. Without `hello`
   * there is no resume.
   */
  resume?: boolean | ResumeOptions;
}

type Event =
  | { kind: "message"; message: Message }
  | { kind: "error"; error: Error }
  | { kind: "reconnecting"; info: Reconnecting }
  | { kind: "resumed" }
  | { kind: "disconnected"; info: Disconnect };

const RESUME_DEFAULTS: Required<ResumeOptions> = {
  initialBackoff: 100,
  maxBackoff: 5_000,
  maxAttempts: 12,
  answerTimeout: 5_000,
  ackEvery: 128,
  ackBytes: 65_536,
  ackDelay: 50,
  maxUnackedBytes: 4 * 1024 * 1024,
};

/** What a podnet server says when too many resumes arrive at once: try again later. */
const RESUME_BUSY = "resume busy: too many resume attempts, try again shortly";

const DEFAULTS = {
  pump: false,
  resume: true as boolean | ResumeOptions,
  maxQueued: 10_000,
  type: "classic",
  hello: true,
  heartbeatInterval: 5_000,
  heartbeatTimeout: 30_000,
  connectTimeout: 10_000,
};

/**
 * A connection to a podnet (or repod-protocol) server over WebSocket. It connects at
 * once; what is sent before it is open is sent when it opens.
 */
export class Client {
  /** The server's URL. */
  readonly url: string;
  /** The latest round trip to a podnet server, in milliseconds (`undefined` until measured). */
  rtt: number | undefined;
  /** Resolves once, when the connection has ended, with why. */
  readonly closed: Promise<Disconnect>;

  private readonly options: typeof DEFAULTS;
  private readonly Impl: WebSocketConstructor;
  private ws!: WebSocketLike;
  /** Counts the WebSockets opened: events of one this client let go of are ignored. */
  private link = 0;
  private readonly handlers = new Map<string, Handler>();
  private fallbackHandler: Handler | undefined;
  private readonly replicas = new Map<string, StateReplica<unknown>>();
  private readonly disconnectHandlers: Array<(info: Disconnect) => void> = [];
  private readonly reconnectingHandlers: Array<(info: Reconnecting) => void> = [];
  private readonly resumedHandlers: Array<() => void> = [];
  private readonly errorHandlers: Array<(error: Error) => void> = [];
  private readonly outbox: Uint8Array[] = [];
  private readonly queue: Event[] = [];
  /**
   * `connecting` (the first connection), `open`, `away` (dropped: waiting to reconnect, or
   * reconnecting), `resuming` (reconnected, the resume asked for), `closing`, `closed`.
   */
  private phase: "connecting" | "open" | "away" | "resuming" | "closing" | "closed" = "connecting";
  private closeRequested: string | undefined;
  /** Whether the first connection, which failed before it opened, was tried again. */
  private redialed = false;
  /** The reason this side closed with: what `onDisconnected` reports for that close. */
  private ownReason: string | undefined;
  /** Why the current connection ends, when this side knows better than its close event. */
  private linkReason: string | undefined;
  /** The server broke the protocol: the session cannot go on. */
  private fatal = false;
  /** The server's `podnet:close` reason on the current connection. */
  private serverReason: string | undefined;
  private podnetServer = false;
  private pingSeq = 0;
  private readonly pingsSent = new Map<number, number>();
  private lastHeard = now();
  private timer: ReturnType<typeof setInterval> | undefined;
  private connectTimer: ReturnType<typeof setTimeout> | undefined;
  private answerTimer: ReturnType<typeof setTimeout> | undefined;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private resolveClosed!: (info: Disconnect) => void;
  private readonly session: Session | undefined;

  /** Connects to `url` (`ws://host:port/` or `wss://...`). */
  constructor(url: string, options: ClientOptions = {}) {
    this.url = url;
    this.options = { ...DEFAULTS, ...stripUndefined(options) };
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
    const Impl = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (!Impl) {
      throw new Error(
        "no WebSocket in this runtime: on Node 20, install the `ws` package and pass it: " +
          "new Client(url, { WebSocket })",
      );
    }
    this.Impl = Impl;
    const resume = this.options.resume;
    if (resume !== false && this.options.hello) {
      const settings = resume === true ? {} : resume;
      this.session = new Session({ ...RESUME_DEFAULTS, ...stripUndefined(settings) });
    }
    this.dial();
  }

  /** Whether the connection is open (sends go out now rather than when it opens). */
  get isOpen(): boolean {
    return this.phase === "open";
  }

  /** Whether the server granted a resumable session (it survives dropped connections). */
  get resumable(): boolean {
    return this.session?.token !== undefined;
  }

  /**
   * Handles messages with this `action` (repod's `Network_<action>`). The server's
   * greeting arrives as the action `connected`. One handler per action; a new one
   * replaces the old. Name the message's type to have it typed (the client does not
   * check its fields):
   *
   * ```ts
   * interface Chat { action: "message"; nickname: string; text: string }
   * client.on<Chat>("message", (msg) => console.log(`${msg.nickname}: ${msg.text}`));
   * ```
   */
  on<T extends { action: string } = Message>(action: string, handler: (message: T, client: Client) => void): this {
    this.handlers.set(action, handler as Handler);
    return this;
  }

  /**
   * The replicated state `name` the server sends (podnet-state, docs/state.md), kept up
   * to date from its `state:full` and `state:patch` messages (from the first, whether or
   * not this was called yet), which it then takes (they reach a handler of their action
   * only if there is one, never the fallback):
   *
   * ```ts
   * interface Arena { players: Record<string, { x: number; y: number }> }
   * const arena = client.state<Arena>();
   * arena.onAdd(["players", "*"], (player, path) => spawn(path[1], player));
   * arena.onRemove(["players", "*"], (_, path) => despawn(path[1]));
   * // Each frame: draw(arena.value)
   * ```
   */
  state<T = unknown>(name = "state"): StateReplica<T> {
    let replica = this.replicas.get(name);
    if (!replica) {
      replica = new StateReplica<unknown>(name);
      this.replicas.set(name, replica);
    }
    return replica as StateReplica<T>;
  }

  /** Stops handling `action`: its messages go to the fallback. */
  off(action: string): this {
    this.handlers.delete(action);
    return this;
  }

  /** Handles messages whose action has no handler (repod's `Network`). */
  fallback(handler: Handler): this {
    this.fallbackHandler = handler;
    return this;
  }

  /** Called once when the connection ends, with why (repod's `Network_disconnected`). */
  onDisconnected(handler: (info: Disconnect) => void): this {
    this.disconnectHandlers.push(handler);
    return this;
  }

  /**
   * Called when the connection dropped and the client is reconnecting to resume its
   * session, before each attempt: show "reconnecting...", pause the game. What is sent
   * meanwhile is kept and goes out once it resumes.
   */
  onReconnecting(handler: (info: Reconnecting) => void): this {
    this.reconnectingHandlers.push(handler);
    return this;
  }

  /** Called when the session resumed after a drop: nothing sent either way was lost. */
  onResumed(handler: () => void): this {
    this.resumedHandlers.push(handler);
    return this;
  }

  /**
   * Called for what goes wrong without ending the connection: a message that is not a
   * map with an action, a handler that threw (repod's `Network_error`).
   */
  onError(handler: (error: Error) => void): this {
    this.errorHandlers.push(handler);
    return this;
  }

  /**
   * Sends a message: `send({ action: "move", x: 1 })` or `send("move", { x: 1 })`.
   * Before the connection is open it waits, in order, and goes out when it opens; while
   * a dropped connection is being resumed it is kept, and goes out once it resumes.
   *
   * @throws if the action is missing or reserved (`podnet:`), the client is closing, or
   * over `resume.maxUnackedBytes` of sent messages wait for the server's acknowledgement.
   */
  send(message: Message | string, fields: Record<string, unknown> = {}): void {
    const msg: Message = typeof message === "string" ? { ...fields, action: message } : message;
    if (typeof msg.action !== "string" || msg.action === "") {
      throw new Error("a message needs an `action`: send({ action: \"move\", ... })");
    }
    if (msg.action.startsWith("podnet:")) {
      throw new Error(`the action \`${msg.action}\` is reserved: podnet: actions are podnet's own`);
    }
    if (this.phase === "closing" || this.phase === "closed" || this.closeRequested !== undefined) {
      throw new Error(`not connected: the connection to ${this.url} is ${this.phase}`);
    }
    this.write(msg);
  }

  /**
   * Closes the connection with `reason`: what was sent before goes out first, then the
   * reason (`podnet:close` to a podnet server, and the WebSocket close frame). Resolves
   * once the connection has ended. While a dropped connection is being resumed, the close
   * waits for the resume (so that what was sent is delivered), or ends with it if the
   * resume fails.
   */
  close(reason = "closed by the client"): Promise<Disconnect> {
    if (this.phase === "connecting" || this.phase === "away" || this.phase === "resuming") {
      this.closeRequested = reason;
    } else if (this.phase === "open") {
      this.shut(reason);
    }
    return this.closed;
  }

  /**
   * With `{ pump: true }`: delivers every event that arrived since the last call, in
   * order (messages, errors, the disconnect), and returns how many. Call it once per
   * frame. Without `pump`, events are delivered as they arrive and this returns 0.
   */
  pump(): number {
    const events = this.queue.splice(0, this.queue.length);
    for (const event of events) {
      this.deliver(event);
    }
    return events.length;
  }

  // ---- inside ----

  private write(msg: Message): void {
    const { action, ...rest } = msg;
    // The action first, as repod writes it (servers may read it without decoding more).
    const bytes = encode({ action, ...rest }, { ignoreUndefined: true });
    // Kept until the server acknowledges it, for a resume; throws when too much is kept.
    this.session?.keep(bytes);
    if (this.phase === "open") {
      this.ws.send(bytes);
    } else if (this.phase === "connecting") {
      this.outbox.push(bytes);
    }
    // Away or resuming: kept, and sent once the session resumes.
  }

  private control(action: string, fields: Record<string, unknown>): void {
    const bytes = encode({ action, ...fields });
    if (this.phase === "open" || this.phase === "closing" || this.phase === "resuming") {
      this.ws.send(bytes);
    }
  }

  /** Opens a WebSocket to the server: the first, or a reconnection. */
  private dial(): void {
    const link = ++this.link;
    const mine = () => link === this.link;
    const ws = new this.Impl(this.url);
    ws.binaryType = "arraybuffer";
    ws.onopen = () => mine() && this.opened();
    ws.onmessage = (event) => mine() && this.received(event.data);
    ws.onclose = (event) => mine() && this.linkClosed(event.code, event.reason);
    ws.onerror = () => {
      // The close event that follows says what happened; an error before the
      // connection opened is reported there too ("could not connect").
    };
    this.ws = ws;
    this.linkReason = undefined;
    this.serverReason = undefined;
    this.connectTimer = setTimeout(() => {
      if (mine() && (this.phase === "connecting" || this.phase === "away")) {
        this.abandon(`could not connect to ${this.url} within ${this.options.connectTimeout} ms`);
      }
    }, this.options.connectTimeout);
  }

  private opened(): void {
    clearTimeout(this.connectTimer);
    this.lastHeard = now();
    if (this.phase === "away" && this.session?.token !== undefined) {
      // A reconnection: ask for the session back, saying what of it arrived here.
      this.phase = "resuming";
      this.control("podnet:hello", {
        protocol: PROTOCOL_VERSION,
        type: this.options.type,
        token: this.session.token,
        received: this.session.startResume(),
      });
      const link = this.link;
      const wait = this.session.settings.answerTimeout;
      this.answerTimer = setTimeout(() => {
        if (link === this.link && this.phase === "resuming") {
          this.abandon(`no answer to the resume within ${wait} ms`);
        }
      }, wait);
      return;
    }
    this.phase = "open";
    if (this.options.hello) {
      const fields: Record<string, unknown> = { protocol: PROTOCOL_VERSION, type: this.options.type };
      if (this.session) fields.resume = true;
      this.control("podnet:hello", fields);
    }
    for (const bytes of this.outbox.splice(0, this.outbox.length)) {
      this.ws.send(bytes);
    }
    if (this.options.heartbeatInterval > 0) {
      this.timer = setInterval(() => this.heartbeat(), this.options.heartbeatInterval);
    }
    if (this.closeRequested !== undefined) {
      this.shut(this.closeRequested);
    }
  }

  /** The server's answer to a resume: the session is back; send what it missed. */
  private resumed(message: Message): void {
    clearTimeout(this.answerTimer);
    const session = this.session;
    const token = message.token;
    if (session === undefined || message.resumed !== true || typeof token !== "string") {
      return this.fail("the server answered a resume without resuming the session");
    }
    const missed = session.resumed(token, message.received);
    if (missed === undefined) {
      return this.fail(
        `the server says it had ${String(message.received)} of this client's messages, ` +
          `outside what was sent and not yet acknowledged`,
      );
    }
    this.phase = "open";
    for (const bytes of missed) {
      this.ws.send(bytes);
    }
    this.emit({ kind: "resumed" });
    if (this.closeRequested !== undefined) {
      this.shut(this.closeRequested);
    }
  }

  /**
   * The server settled this connection as a repod player before this client's hello
   * reached it (it came later than the server's `hello_wait`). A plain session goes on, and
   * the answer to the hello, which follows, may still grant the resumable one asked for; a
   * resume tries again on a new connection; another connection type cannot be had now.
   */
  private settledSilent(): void {
    if (!this.options.hello) return; // as a repod client, which takes no notice
    if (this.phase === "resuming") {
      this.ws.close();
      return;
    }
    this.podnetServer = true;
    if (this.options.type !== "classic") {
      this.linkReason =
        `the server settled this connection as "classic" before its hello (asking for ` +
        `"${this.options.type}") arrived; connect again`;
      this.session?.forget();
      this.shut(this.linkReason);
    }
  }

  /** The server broke the protocol: close, saying so. */
  private fail(error: string): void {
    this.fatal = true;
    this.linkReason = `protocol error: ${error}`;
    this.session?.forget();
    if (this.phase === "open" || this.phase === "resuming") {
      this.shut(this.linkReason);
    } else {
      this.abandon(this.linkReason);
    }
  }

  /**
   * Lets go of the current WebSocket at once (its events are ignored from now on): it
   * timed out, or failed to connect or to answer in time.
   */
  private abandon(reason: string): void {
    const ws = this.ws;
    this.link += 1;
    try {
      ws.close();
    } catch {
      // Closing a socket that never opened may throw in some implementations.
    }
    this.linkEnded(1006, reason);
  }

  private shut(reason: string): void {
    this.phase = "closing";
    this.ownReason = reason;
    if (this.podnetServer) {
      this.control("podnet:close", { reason });
    }
    this.ws.close(1000, truncateUtf8(reason, 123));
  }

  private heartbeat(): void {
    if (!this.podnetServer || this.phase !== "open") {
      return;
    }
    const silent = now() - this.lastHeard;
    if (silent > this.options.heartbeatTimeout) {
      this.abandon(`timed out: nothing from the server for ${Math.round(silent)} ms`);
      return;
    }
    this.pingSeq += 1;
    this.pingsSent.set(this.pingSeq, now());
    if (this.pingsSent.size > 16) {
      // Unanswered pings are forgotten, oldest first.
      const oldest = this.pingsSent.keys().next().value;
      if (oldest !== undefined) this.pingsSent.delete(oldest);
    }
    this.control("podnet:ping", { seq: this.pingSeq });
  }

  private received(data: unknown): void {
    this.lastHeard = now();
    if (!(data instanceof ArrayBuffer) && !ArrayBuffer.isView(data)) {
      this.emit({ kind: "error", error: new Error("the server sent a text message; podnet messages are binary") });
      return;
    }
    const bytes = data instanceof ArrayBuffer ? new Uint8Array(data) : (data as Uint8Array);
    let msg: unknown;
    try {
      msg = decode(bytes);
    } catch (err) {
      this.counted(bytes.length);
      this.emit({ kind: "error", error: new Error(`a message that is not msgpack: ${String(err)}`) });
      return;
    }
    if (typeof msg !== "object" || msg === null || typeof (msg as Message).action !== "string") {
      this.counted(bytes.length);
      this.emit({ kind: "error", error: new Error("a message that is not a map with an `action`") });
      return;
    }
    const message = msg as Message;
    if (!message.action.startsWith("podnet:")) {
      // Counted and acknowledged on a resumable session.
      this.counted(bytes.length);
    }
    switch (message.action) {
      case "podnet:hello": {
        if (message.silent === true) {
          return this.settledSilent();
        }
        if (this.phase === "resuming") {
          return this.resumed(message);
        }
        this.podnetServer = true;
        if (message.protocol !== PROTOCOL_VERSION) {
          this.linkReason =
            `podnet protocol mismatch: the server speaks version ${String(message.protocol)}, ` +
            `this client version ${PROTOCOL_VERSION}; update the one that is behind`;
          this.session?.forget();
          this.shut(this.linkReason);
          return;
        }
        if (this.session && typeof message.token === "string") {
          this.session.token = message.token;
        } else {
          // Not granted: nothing is kept.
          this.session?.forget();
        }
        return;
      }
      case "podnet:ack": {
        if (this.session && !this.session.acked(message.n)) {
          this.fail(`the server acknowledged ${String(message.n)} messages, more than were sent`);
        }
        return;
      }
      case "podnet:ping":
        this.control("podnet:pong", { seq: message.seq });
        return;
      case "podnet:pong": {
        const sent = this.pingsSent.get(message.seq as number);
        if (sent !== undefined) {
          this.pingsSent.delete(message.seq as number);
          this.rtt = now() - sent;
        }
        return;
      }
      case "podnet:close":
        this.serverReason = typeof message.reason === "string" ? message.reason : "";
        return;
      default:
        if (message.action.startsWith("podnet:")) return; // later versions' own messages
        if (!this.podnetServer) {
          // A server that never says hello (repod's protocol only) resumes nothing.
          this.session?.forget();
        }
        this.emit({ kind: "message", message });
    }
  }

  /** An application message of `size` bytes arrived: count it, and acknowledge in time. */
  private counted(size: number): void {
    const session = this.session;
    if (session?.token === undefined || this.phase !== "open") return;
    if (session.received(size)) {
      this.sendAck();
    } else if (session.ackTimer === undefined) {
      session.ackTimer = setTimeout(() => this.sendAck(), session.settings.ackDelay);
    }
  }

  private sendAck(): void {
    const n = this.session?.ackNow();
    if (n !== undefined && this.phase === "open") {
      this.control("podnet:ack", { n });
    }
  }

  /** The current WebSocket closed. */
  private linkClosed(code: number, closeReason: string): void {
    if (this.phase === "connecting" && !this.redialed && this.closeRequested === undefined) {
      // A first connection that failed before it opened is tried once more, at once: a
      // lost packet can make an upgrade request reach a podnet server later than its
      // hello wait, and the server then took the connection for a repod one.
      this.redialed = true;
      clearTimeout(this.connectTimer);
      this.dial();
      return;
    }
    const reason =
      this.linkReason ??
      this.ownReason ??
      (this.serverReason || undefined) ??
      (closeReason !== ""
        ? closeReason
        : this.phase === "connecting" || this.phase === "away"
          ? `could not connect to ${this.url}`
          : code === 1006
            ? "connection lost"
            : `closed (WebSocket code ${code})`);
    this.linkEnded(code, reason);
  }

  /**
   * The current connection is over, for `reason`: the session resumes on a new one if it
   * can (it is resumable, and neither side closed it), or the client ends.
   */
  private linkEnded(code: number, reason: string): void {
    clearTimeout(this.connectTimer);
    clearTimeout(this.answerTimer);
    const state = this.phase;
    if (state === "closed") return;
    const session = this.session;
    const resumable =
      session?.token !== undefined && !this.fatal && (state === "open" || state === "away" || state === "resuming");
    if (!resumable || session === undefined) {
      return this.finish(code, reason);
    }
    if (this.serverReason !== undefined) {
      // The server closed: the session is over, unless it was too busy to resume it now.
      if (state !== "resuming") return this.finish(code, reason);
      if (this.serverReason !== RESUME_BUSY) {
        return this.finish(code, `the server refused the resume: ${reason}`);
      }
    }
    this.dropped(session, reason);
  }

  /** The connection dropped: reconnect after a pause, or give up after the last attempt. */
  private dropped(session: Session, reason: string): void {
    this.phase = "away";
    session.firstDrop ??= reason;
    session.attempts += 1;
    const { maxAttempts, initialBackoff, maxBackoff } = session.settings;
    if (session.attempts > maxAttempts) {
      return this.finish(
        1006,
        `not resumed: the connection dropped (${session.firstDrop}), then ${maxAttempts} ` +
          `reconnection attempts failed (the last: ${reason})`,
      );
    }
    this.emit({ kind: "reconnecting", info: { attempt: session.attempts, reason } });
    const full = Math.min(maxBackoff, initialBackoff * 2 ** Math.min(session.attempts - 1, 20));
    const pause = full * (1 - 0.5 * Math.random());
    this.retryTimer = setTimeout(() => {
      if (this.phase === "away") this.dial();
    }, pause);
  }

  /** The client ends, for `reason`. */
  private finish(code: number, reason: string): void {
    if (this.phase === "closed") return;
    const byServer = this.phase !== "closing" && this.closeRequested === undefined;
    this.phase = "closed";
    this.link += 1;
    clearTimeout(this.connectTimer);
    clearTimeout(this.answerTimer);
    clearTimeout(this.retryTimer);
    clearInterval(this.timer);
    this.session?.forget();
    const info: Disconnect = { reason, byServer, code };
    this.emit({ kind: "disconnected", info });
    this.resolveClosed(info);
  }

  private emit(event: Event): void {
    if (!this.options.pump) {
      this.deliver(event);
      return;
    }
    if (this.queue.length >= this.options.maxQueued && event.kind !== "disconnected") {
      if (this.phase === "open") {
        this.serverReason = `fell behind: over ${this.options.maxQueued} events waiting for pump()`;
        this.shut(this.serverReason);
      }
      return;
    }
    this.queue.push(event);
  }

  private deliver(event: Event): void {
    try {
      switch (event.kind) {
        case "message": {
          const message = event.message;
          // Every state the server sends is followed, asked for or not yet: `state(name)`
          // finds it up to date whenever it is called.
          const replica =
            message.action === "state:full"
              ? this.state(String(message.name))
              : message.action === "state:patch"
                ? this.replicas.get(String(message.name))
                : undefined;
          if (replica) {
            replica.apply(message);
            this.handlers.get(message.action)?.(message, this);
            break;
          }
          const handler = this.handlers.get(message.action) ?? this.fallbackHandler;
          handler?.(message, this);
          break;
        }
        case "error":
          this.report(event.error);
          break;
        case "reconnecting":
          for (const handler of this.reconnectingHandlers) handler(event.info);
          break;
        case "resumed":
          for (const handler of this.resumedHandlers) handler();
          break;
        case "disconnected":
          for (const handler of this.disconnectHandlers) handler(event.info);
          break;
      }
    } catch (err) {
      this.report(err instanceof Error ? err : new Error(String(err)));
    }
  }

  private report(error: Error): void {
    if (this.errorHandlers.length === 0) {
      console.error("podnet-client:", error);
      return;
    }
    for (const handler of this.errorHandlers) handler(error);
  }
}

/**
 * A resumable session's bookkeeping, as podnet's protocol has it (docs/protocol.md):
 * both sides count the application messages they receive and acknowledge them with
 * `podnet:ack {n}`; each keeps what it sent until acknowledged, and after a resume sends
 * again what the other side's count shows it missed.
 */
class Session {
  /** The resume token, once the server granted the session. */
  token: string | undefined;
  /** Why the connection first dropped, until it resumes. */
  firstDrop: string | undefined;
  /** Reconnection attempts since the connection dropped. */
  attempts = 0;
  ackTimer: ReturnType<typeof setTimeout> | undefined;
  /** Sent messages not yet acknowledged: `kept[head]` is number `acked + 1`. */
  private kept: Uint8Array[] = [];
  private head = 0;
  private keptBytes = 0;
  private acknowledged = 0;
  private sent = 0;
  /** Whether sent messages are kept (until the server turns the session down). */
  private keeping = true;
  private count = 0;
  private ackedCount = 0;
  private unackedBytes = 0;

  constructor(readonly settings: Required<ResumeOptions>) {}

  /** Keeps a sent message until acknowledged; throws past `maxUnackedBytes`. */
  keep(bytes: Uint8Array): void {
    if (!this.keeping) return;
    const limit = this.settings.maxUnackedBytes;
    if (this.keptBytes > 0 && this.keptBytes + bytes.length > limit) {
      throw new Error(
        `not sent: ${this.keptBytes} bytes of messages wait for the server's acknowledgement, ` +
          `the most resume.maxUnackedBytes (${limit}) allows; the connection is down or the ` +
          `server is not reading`,
      );
    }
    this.kept.push(bytes);
    this.keptBytes += bytes.length;
    this.sent += 1;
  }

  /** The server has `n` of this client's messages: let go of those. False if `n` is more than were sent. */
  acked(n: unknown): boolean {
    if (typeof n !== "number" || !Number.isInteger(n) || n < 0) return true;
    if (!this.keeping) return true;
    if (n > this.sent) return false;
    while (this.acknowledged < n) {
      const bytes = this.kept[this.head];
      this.kept[this.head] = EMPTY;
      this.head += 1;
      this.keptBytes -= bytes?.length ?? 0;
      this.acknowledged += 1;
    }
    if (this.head > 1024 && this.head * 2 > this.kept.length) {
      this.kept = this.kept.slice(this.head);
      this.head = 0;
    }
    return true;
  }

  /** An application message of `size` bytes arrived; true when an acknowledgement is due now. */
  received(size: number): boolean {
    this.count += 1;
    this.unackedBytes += size;
    return this.count - this.ackedCount >= Math.max(1, this.settings.ackEvery) ||
      this.unackedBytes >= this.settings.ackBytes;
  }

  /** The count to acknowledge, if anything arrived since the last acknowledgement. */
  ackNow(): number | undefined {
    clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
    if (this.count === this.ackedCount) return undefined;
    this.ackedCount = this.count;
    this.unackedBytes = 0;
    return this.count;
  }

  /** A resume goes out: returns the count it carries (which acknowledges as much). */
  startResume(): number {
    clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
    this.ackedCount = this.count;
    this.unackedBytes = 0;
    return this.count;
  }

  /**
   * The server resumed the session with a new `token`, having `theirs` of this client's
   * messages: returns what to send again, in order (undefined if `theirs` is impossible).
   */
  resumed(token: string, theirs: unknown): Uint8Array[] | undefined {
    const n = typeof theirs === "number" ? theirs : 0;
    if (!Number.isInteger(n) || n < this.acknowledged || !this.acked(n)) return undefined;
    this.token = token;
    this.attempts = 0;
    this.firstDrop = undefined;
    return this.kept.slice(this.head);
  }

  /** The session is not resumable (any more): keep nothing. */
  forget(): void {
    this.keeping = false;
    this.token = undefined;
    this.kept = [];
    this.head = 0;
    this.keptBytes = 0;
    clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
  }
}

const EMPTY = new Uint8Array(0);

function now(): number {
  return performance.now();
}

function stripUndefined<T extends object>(options: T): Partial<T> {
  return Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** `text` cut to at most `max` bytes of UTF-8, at a character boundary. */
function truncateUtf8(text: string, max: number): string {
  const bytes = new TextEncoder().encode(text);
  if (bytes.length <= max) return text;
  let end = max;
  while (end > 0 && (bytes[end] & 0xc0) === 0x80) end -= 1;
  return new TextDecoder().decode(bytes.slice(0, end));
}
