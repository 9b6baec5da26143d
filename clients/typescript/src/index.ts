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
 * @module
 */

import { decode, encode } from "@msgpack/msgpack";

/** The podnet protocol version this client speaks (`podnet:hello`'s `protocol`). */
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
}

type Event =
  | { kind: "message"; message: Message }
  | { kind: "error"; error: Error }
  | { kind: "disconnected"; info: Disconnect };

const DEFAULTS = {
  pump: false,
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
  private readonly ws: WebSocketLike;
  private readonly handlers = new Map<string, Handler>();
  private fallbackHandler: Handler | undefined;
  private readonly disconnectHandlers: Array<(info: Disconnect) => void> = [];
  private readonly errorHandlers: Array<(error: Error) => void> = [];
  private readonly outbox: Uint8Array[] = [];
  private readonly queue: Event[] = [];
  private state: "connecting" | "open" | "closing" | "closed" = "connecting";
  private closeRequested: string | undefined;
  private serverReason: string | undefined;
  private podnetServer = false;
  private pingSeq = 0;
  private readonly pingsSent = new Map<number, number>();
  private lastHeard = now();
  private timer: ReturnType<typeof setInterval> | undefined;
  private connectTimer: ReturnType<typeof setTimeout> | undefined;
  private resolveClosed!: (info: Disconnect) => void;

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
    this.ws = new Impl(url);
    this.ws.binaryType = "arraybuffer";
    this.ws.onopen = () => this.opened();
    this.ws.onmessage = (event) => this.received(event.data);
    this.ws.onclose = (event) => this.ended(event.code, event.reason);
    this.ws.onerror = () => {
      // The close event that follows says what happened; an error before the
      // connection opened is reported there too ("could not connect").
    };
    this.connectTimer = setTimeout(() => {
      if (this.state === "connecting") {
        this.serverReason = `could not connect to ${url} within ${this.options.connectTimeout} ms`;
        this.ws.close();
      }
    }, this.options.connectTimeout);
  }

  /** Whether the connection is open (sends go out now rather than when it opens). */
  get isOpen(): boolean {
    return this.state === "open";
  }

  /**
   * Handles messages with this `action` (repod's `Network_<action>`). The server's
   * greeting arrives as the action `connected`. One handler per action; a new one
   * replaces the old.
   */
  on(action: string, handler: Handler): this {
    this.handlers.set(action, handler);
    return this;
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
   * Called for what goes wrong without ending the connection: a message that is not a
   * map with an action, a handler that threw (repod's `Network_error`).
   */
  onError(handler: (error: Error) => void): this {
    this.errorHandlers.push(handler);
    return this;
  }

  /**
   * Sends a message: `send({ action: "move", x: 1 })` or `send("move", { x: 1 })`.
   * Before the connection is open it waits, in order, and goes out when it opens.
   *
   * @throws if the action is missing or reserved (`podnet:`), or the client is closing.
   */
  send(message: Message | string, fields: Record<string, unknown> = {}): void {
    const msg: Message = typeof message === "string" ? { ...fields, action: message } : message;
    if (typeof msg.action !== "string" || msg.action === "") {
      throw new Error("a message needs an `action`: send({ action: \"move\", ... })");
    }
    if (msg.action.startsWith("podnet:")) {
      throw new Error(`the action \`${msg.action}\` is reserved: podnet: actions are podnet's own`);
    }
    if (this.state === "closing" || this.state === "closed" || this.closeRequested !== undefined) {
      throw new Error(`not connected: the connection to ${this.url} is ${this.state}`);
    }
    this.write(msg);
  }

  /**
   * Closes the connection with `reason`: what was sent before goes out first, then the
   * reason (`podnet:close` to a podnet server, and the WebSocket close frame). Resolves
   * once the connection has ended.
   */
  close(reason = "closed by the client"): Promise<Disconnect> {
    if (this.state === "connecting") {
      this.closeRequested = reason;
    } else if (this.state === "open") {
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
    if (this.state === "open") {
      this.ws.send(bytes);
    } else {
      this.outbox.push(bytes);
    }
  }

  private control(action: string, fields: Record<string, unknown>): void {
    const bytes = encode({ action, ...fields });
    if (this.state === "open" || this.state === "closing") {
      this.ws.send(bytes);
    }
  }

  private opened(): void {
    clearTimeout(this.connectTimer);
    this.state = "open";
    this.lastHeard = now();
    if (this.options.hello) {
      this.control("podnet:hello", { protocol: PROTOCOL_VERSION, type: this.options.type });
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

  private shut(reason: string): void {
    this.state = "closing";
    if (this.podnetServer) {
      this.control("podnet:close", { reason });
    }
    this.ws.close(1000, truncateUtf8(reason, 123));
  }

  private heartbeat(): void {
    if (!this.podnetServer || this.state !== "open") {
      return;
    }
    const silent = now() - this.lastHeard;
    if (silent > this.options.heartbeatTimeout) {
      this.serverReason = `timed out: nothing from the server for ${Math.round(silent)} ms`;
      this.ws.close(1000, "timed out");
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
    let msg: unknown;
    try {
      msg = decode(data instanceof ArrayBuffer ? new Uint8Array(data) : (data as Uint8Array));
    } catch (err) {
      this.emit({ kind: "error", error: new Error(`a message that is not msgpack: ${String(err)}`) });
      return;
    }
    if (typeof msg !== "object" || msg === null || typeof (msg as Message).action !== "string") {
      this.emit({ kind: "error", error: new Error("a message that is not a map with an `action`") });
      return;
    }
    const message = msg as Message;
    switch (message.action) {
      case "podnet:hello": {
        this.podnetServer = true;
        if (message.protocol !== PROTOCOL_VERSION) {
          this.serverReason =
            `podnet protocol mismatch: the server speaks version ${String(message.protocol)}, ` +
            `this client version ${PROTOCOL_VERSION}; update the one that is behind`;
          this.shut(this.serverReason);
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
        if (typeof message.reason === "string") this.serverReason = message.reason;
        return;
      default:
        if (message.action.startsWith("podnet:")) return; // later versions' own messages
        this.emit({ kind: "message", message });
    }
  }

  private ended(code: number, closeReason: string): void {
    if (this.state === "closed") return;
    const byServer = this.state !== "closing";
    const wasConnecting = this.state === "connecting";
    this.state = "closed";
    clearTimeout(this.connectTimer);
    clearInterval(this.timer);
    const reason =
      this.serverReason ??
      (closeReason !== ""
        ? closeReason
        : wasConnecting
          ? `could not connect to ${this.url}`
          : code === 1006
            ? "connection lost"
            : `closed (WebSocket code ${code})`);
    const info: Disconnect = { reason, byServer: byServer && this.closeRequested === undefined, code };
    this.emit({ kind: "disconnected", info });
    this.resolveClosed(info);
  }

  private emit(event: Event): void {
    if (!this.options.pump) {
      this.deliver(event);
      return;
    }
    if (this.queue.length >= this.options.maxQueued && event.kind !== "disconnected") {
      if (this.state === "open") {
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
          const handler = this.handlers.get(event.message.action) ?? this.fallbackHandler;
          handler?.(event.message, this);
          break;
        }
        case "error":
          this.report(event.error);
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
