"""Plays podnet's tag server with repod's own tag client class, unchanged: repod's
`examples/tag/client.py` (its path is the first argument) is imported as it is, with
`pyray` (raylib) stood in for by a stub, as its rendering is never called: the class's
own `Network_*` handlers take the setup and the state, and its `send` carries inputs.

Usage: python repod_tag_player.py CLIENT_PY HOST PORT
Prints `setup ID OBSTACLES`, `state ID X Y PLAYERS`, then `moved PX`, and exits 0.
"""

import importlib.util
import sys
import time
import types


class _Anything:
    """Whatever the client module reads of pyray at import: colours, keys."""

    def __getattr__(self, name):
        return _Anything()

    def __call__(self, *args, **kwargs):
        return _Anything()


def load_client_class(path):
    sys.modules["pyray"] = types.ModuleType("pyray")
    sys.modules["pyray"].__getattr__ = lambda name: _Anything()
    spec = importlib.util.spec_from_file_location("repod_tag_client", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.TagClient


def pump_until(client, what, done, seconds=10.0):
    deadline = time.monotonic() + seconds
    while not done():
        if time.monotonic() > deadline:
            print(f"timeout waiting for {what}", flush=True)
            sys.exit(1)
        client.pump()
        time.sleep(0.005)


def main():
    path, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    client = load_client_class(path)(host, port)
    pump_until(client, "setup", lambda: client.my_id is not None)
    print(f"setup {client.my_id} {len(client.obstacles)}", flush=True)
    pump_until(client, "state", lambda: client.my_id in client.players)
    me = client.players[client.my_id]
    x0, y0 = me["x"], me["y"]
    print(f"state {client.my_id} {x0} {y0} {len(client.players)}", flush=True)
    # Hold each direction in turn for a third of a second, as the keys would, until the
    # player has moved (an obstacle or a wall may block one direction).
    moved = 0.0
    for dx, dy in [(1, 0), (-1, 0), (0, 1), (0, -1)]:
        until = time.monotonic() + 0.33
        while time.monotonic() < until:
            client.send({"action": "input", "dx": dx, "dy": dy})
            client.pump()
            time.sleep(1 / 60)
        me = client.players[client.my_id]
        moved = ((me["x"] - x0) ** 2 + (me["y"] - y0) ** 2) ** 0.5
        if moved > 20:
            break
    print(f"moved {moved:.0f}", flush=True)
    client.connection.close()


if __name__ == "__main__":
    main()
