"""Interop vectors for podnet-framing: repod-shaped messages as Python's msgpack writes them.

repod (pip package `repodnet`) frames every message as a 4-byte big-endian length followed by
`msgpack.packb(data, use_bin_type=True)` and reads with `msgpack.unpackb(raw=False,
strict_map_key=False)`. This script is the Python side of podnet's wire tests:

    python vectors.py generate FILE   write every vector as one frame, in order, to FILE
    python vectors.py check FILE      fail unless FILE is exactly what `generate` writes now
    python vectors.py verify COUNT    read frames from stdin (written by Rust) and fail unless
                                      there are COUNT of them and each one decodes to the
                                      vector named by its action, with the same types

The committed `frames.bin` beside this file is `generate`'s output; the Rust tests in
`../interop.rs` decode it and hold the expected values on their side.
"""

import math
import struct
import sys

import msgpack

VECTORS = [
    {"action": "connected"},
    {"action": "move", "x": 10, "y": -20, "speed": 1.5},
    {"action": "chat", "text": "h\u00e9llo w\u00f6rld \u2713 \U0001f3ae", "who": "alice", "empty": ""},
    {"action": "blob", "data": bytes(range(256)), "empty": b"", "small": b"\x00\xff"},
    {
        "action": "ints",
        "zero": 0,
        "fixpos": 127,
        "u8": 255,
        "u16": 65535,
        "u32": 4294967295,
        "u64": 2**64 - 1,
        "i64_max": 2**63 - 1,
        "fixneg": -32,
        "i8": -128,
        "i16": -32768,
        "i32": -(2**31),
        "i64": -(2**63),
    },
    {
        "action": "floats",
        "pi": math.pi,
        "neg": -0.5,
        "zero": 0.0,
        "neg_zero": -0.0,
        "huge": 1e300,
        "tiny": 5e-324,
        "inf": math.inf,
        "ninf": -math.inf,
    },
    {"action": "flags", "yes": True, "no": False, "nothing": None},
    {
        "action": "state",
        "tick": 42,
        "players": [
            {"name": "ann", "pos": [1, 2], "hp": 100},
            {"name": "bob", "pos": [-3, 4.5], "hp": None},
        ],
        "meta": {"round": 1, "tags": ["x", "y"], "deep": {"a": {"b": {"c": [[[]], {}]}}}},
    },
    {
        "action": "sizes",
        "str8": "s" * 40,
        "str16": "m" * 300,
        "str32": "L" * 70000,
        "bin16": b"\x01" * 300,
        "array16": list(range(20)),
        "map16": {f"k{i}": i for i in range(20)},
        "mixed": [1, "two", 3.0, None, True, b"six", [7], {"eight": 8}],
    },
    {"action": "s\u00e9lection \u2713", "note": "non-ASCII action name"},
]


def frame(message):
    payload = msgpack.packb(message, use_bin_type=True)
    return struct.pack(">I", len(payload)) + payload


def generate():
    return b"".join(frame(v) for v in VECTORS)


def read_frames(data):
    frames, pos = [], 0
    while pos < len(data):
        if len(data) - pos < 4:
            raise SystemExit(f"stream ends inside a frame header at offset {pos}")
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        body = data[pos + 4 : pos + 4 + length]
        if len(body) != length:
            raise SystemExit(f"stream ends inside a frame at offset {pos}")
        frames.append(msgpack.unpackb(body, raw=False, strict_map_key=False))
        pos += 4 + length
    return frames


def same(a, b, path):
    """Equality that also requires the same types: in Python True == 1 and 1 == 1.0."""
    if type(a) is not type(b):
        return f"{path}: {type(a).__name__} {a!r} != {type(b).__name__} {b!r}"
    if isinstance(a, dict):
        if set(a) != set(b):
            return f"{path}: keys {sorted(map(str, a))} != {sorted(map(str, b))}"
        for k in a:
            diff = same(a[k], b[k], f"{path}.{k}")
            if diff:
                return diff
        return None
    if isinstance(a, list):
        if len(a) != len(b):
            return f"{path}: {len(a)} items != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            diff = same(x, y, f"{path}[{i}]")
            if diff:
                return diff
        return None
    if isinstance(a, float):
        same_bits = struct.pack(">d", a) == struct.pack(">d", b)
        return None if same_bits else f"{path}: {a!r} != {b!r}"
    return None if a == b else f"{path}: {a!r} != {b!r}"


def verify(count):
    expected = {v["action"]: v for v in VECTORS}
    frames = read_frames(sys.stdin.buffer.read())
    if len(frames) != count:
        raise SystemExit(f"expected {count} frames from Rust, got {len(frames)}")
    for i, got in enumerate(frames):
        if not isinstance(got, dict) or not isinstance(got.get("action"), str):
            raise SystemExit(f"frame {i} is not a message: {got!r:.200}")
        want = expected.get(got["action"])
        if want is None:
            raise SystemExit(f"frame {i} has unknown action {got['action']!r}")
        diff = same(got, want, got["action"])
        if diff:
            raise SystemExit(f"frame {i} differs from the Python vector: {diff:.300}")
    print(f"python msgpack {msgpack.version}: {len(frames)} frames from Rust match the vectors")


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("generate", "check", "verify"):
        raise SystemExit(__doc__)
    command, arg = sys.argv[1], sys.argv[2]
    if command == "generate":
        with open(arg, "wb") as f:
            f.write(generate())
    elif command == "check":
        with open(arg, "rb") as f:
            if f.read() != generate():
                raise SystemExit(f"{arg} is not what this script generates now; regenerate it")
        print(f"{arg} matches the vectors ({len(VECTORS)} frames)")
    else:
        verify(int(arg))


if __name__ == "__main__":
    main()
