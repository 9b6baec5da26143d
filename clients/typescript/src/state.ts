/**
 * Replicated state (podnet-state, docs/state.md): a server's `Replicated` state sends
 * `state:full` (the whole state of this player's view) and then `state:patch` messages
 * (what changed). A {@link StateReplica} applies them and calls back by path.
 */

/** A step of a path: a map key or a list index. */
export type PathStep = string | number;
/** Where a value is in the state, from the root. */
export type Path = readonly PathStep[];
/**
 * A path to listen on: each step a key, an index, or `"*"` (any one step); a last step
 * `"**"` matches any rest, none included.
 */
export type Pattern = readonly PathStep[];

/** Called with the value now at `path` (`undefined` for a removal). */
export type StateListener = (value: unknown, path: Path) => void;

type Kind = "add" | "change" | "remove";

/** The deepest path a patch may name. */
const MAX_DEPTH = 64;

const SET = 1;
const TRUNCATE = 2;
const MERGE = 3;
/** The msgpack ext type that marks a removed entry in a merge. */
const REMOVED_EXT = 80;

function isRemoved(value: unknown): boolean {
  return typeof value === "object" && value !== null && (value as { type?: unknown }).type === REMOVED_EXT &&
    (value as { data?: unknown }).data instanceof Uint8Array;
}

function isMap(value: unknown): value is Record<string, unknown> {
  return isNode(value) && !Array.isArray(value) && !isRemoved(value);
}

function matches(pattern: Pattern, path: Path): boolean {
  for (let i = 0; i < pattern.length; i++) {
    const step = pattern[i];
    if (step === "**" && i === pattern.length - 1) return true;
    if (i >= path.length) return false;
    if (step !== "*" && String(step) !== String(path[i])) return false;
  }
  return pattern.length === path.length;
}

type Node = Record<string, unknown> | unknown[];

function isNode(value: unknown): value is Node {
  return typeof value === "object" && value !== null && !(value instanceof Uint8Array);
}

function child(node: unknown, step: PathStep): unknown {
  if (Array.isArray(node)) {
    if (typeof step !== "number" || step < 0 || step >= node.length) throw new Error(`no item ${step}`);
    return node[step];
  }
  if (isNode(node) && Object.prototype.hasOwnProperty.call(node, String(step))) {
    return (node as Record<string, unknown>)[String(step)];
  }
  throw new Error(`no entry ${String(step)}`);
}

/** A replica of one replicated state, kept up to date by its messages. */
export class StateReplica<T = unknown> {
  /** The state's name (the server's `StateConfig::name`). */
  readonly name: string;
  private current: unknown = undefined;
  private readonly listeners: Array<{ kind: Kind; pattern: Pattern; listener: StateListener }> = [];

  constructor(name: string) {
    this.name = name;
  }

  /** The state (`undefined` until the whole state arrived). */
  get value(): T | undefined {
    return this.current as T | undefined;
  }

  /**
   * Calls `listener` when a value at a path matching `pattern` is replaced; a whole state
   * arriving is a change of the root (`[]`, or `["**"]`).
   */
  onChange(pattern: Pattern, listener: StateListener): this {
    this.listeners.push({ kind: "change", pattern, listener });
    return this;
  }

  /** Calls `listener` when a map entry or list item appears at a path matching `pattern`. */
  onAdd(pattern: Pattern, listener: StateListener): this {
    this.listeners.push({ kind: "add", pattern, listener });
    return this;
  }

  /** Calls `listener` when a map entry or list item at a path matching `pattern` goes. */
  onRemove(pattern: Pattern, listener: StateListener): this {
    this.listeners.push({ kind: "remove", pattern, listener });
    return this;
  }

  /**
   * Applies a `state:full` or `state:patch` message of this state (the client does it for
   * the states it follows). Throws on a message that does not fit: a patch before the
   * whole state, an op that leads nowhere.
   */
  apply(message: { action: string; [field: string]: unknown }): void {
    if (message.name !== this.name) return;
    if (message.action === "state:full") {
      this.current = message.state;
      this.emit("change", [], this.current);
      return;
    }
    if (message.action !== "state:patch") return;
    if (this.current === undefined) throw new Error(`a patch of ${this.name} before the whole state`);
    const ops = message.ops;
    if (!Array.isArray(ops)) throw new Error("a patch without ops");
    for (const op of ops) this.applyOp(op);
  }

  private applyOp(op: unknown): void {
    if (!Array.isArray(op) || !Array.isArray(op[1])) throw new Error(`not a patch op: ${String(op)}`);
    const [kind, path] = op as [number, PathStep[]];
    if (path.length > MAX_DEPTH) throw new Error("a path too deep");
    if (kind === TRUNCATE) {
      let node: unknown = this.current;
      for (const step of path) node = child(node, step);
      const len = op[2];
      if (!Array.isArray(node) || typeof len !== "number") throw new Error("not a list");
      const gone = node.length;
      node.length = Math.min(node.length, len);
      for (let i = len; i < gone; i++) this.emit("remove", [...path, i], undefined);
      return;
    }
    if (kind === MERGE) {
      let node: unknown = this.current;
      for (const step of path) node = child(node, step);
      if (!isMap(node) || !isMap(op[2])) throw new Error(`a merge that does not fit at ${path.join(".")}`);
      this.merge(node, op[2], [...path]);
      return;
    }
    if (path.length === 0) {
      if (kind !== SET) throw new Error("not an op");
      this.current = op[2];
      this.emit("change", [], this.current);
      return;
    }
    let parent: unknown = this.current;
    for (const step of path.slice(0, -1)) parent = child(parent, step);
    const last = path[path.length - 1];
    if (Array.isArray(parent)) {
      if (kind !== SET || typeof last !== "number" || last < 0 || last > parent.length) {
        throw new Error(`an op that does not fit at ${path.join(".")}`);
      }
      const added = last === parent.length;
      parent[last] = op[2];
      this.emit(added ? "add" : "change", path, op[2]);
      return;
    }
    if (!isNode(parent)) throw new Error(`no place at ${path.join(".")}`);
    const map = parent as Record<string, unknown>;
    if (kind !== SET) throw new Error(`an op that does not fit at ${path.join(".")}`);
    const key = String(last);
    const had = Object.prototype.hasOwnProperty.call(map, key);
    map[key] = op[2];
    this.emit(had ? "change" : "add", path, op[2]);
  }

  /** Merges `changes` into the map `target` (at `path`), reporting each entry. */
  private merge(target: Record<string, unknown>, changes: Record<string, unknown>, path: PathStep[]): void {
    for (const [key, value] of Object.entries(changes)) {
      const at = [...path, key];
      const had = Object.prototype.hasOwnProperty.call(target, key);
      if (isRemoved(value)) {
        if (had) {
          delete target[key];
          this.emit("remove", at, undefined);
        }
      } else if (had && isMap(value) && isMap(target[key])) {
        this.merge(target[key] as Record<string, unknown>, value, at);
      } else {
        target[key] = value;
        this.emit(had ? "change" : "add", at, value);
      }
    }
  }

  private emit(kind: Kind, path: Path, value: unknown): void {
    for (const l of this.listeners) {
      if (l.kind === kind && matches(l.pattern, path)) l.listener(value, path);
    }
  }
}
