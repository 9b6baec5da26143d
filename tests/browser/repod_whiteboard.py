"""repod's own whiteboard client, unchanged, driven headless.

Loads `examples/whiteboard/client.py` from repod's source distribution (the path is the
third argument; `cargo xtask browser` downloads the sdist with pip), runs its
`WhiteboardClient` with SDL's dummy video driver, and draws two strokes through its own
connection, as its pen handlers would. Its own network handlers (`Network_initial`,
`Network_startline`, ...) keep its board. When stdin closes it prints

    repod sent: {"strokes": [[[x, y], ...], ...]}
    repod view: {"<id>": [[[x, y], ...], ...], ...}

and exits.

Usage: python repod_whiteboard.py HOST PORT PATH/TO/client.py
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import threading

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")


def main() -> None:
    host, port, client_py = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    spec = importlib.util.spec_from_file_location("repod_whiteboard_client", client_py)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    client = module.WhiteboardClient(host, port)
    stdin_closed = threading.Event()

    def wait_for_stdin() -> None:
        sys.stdin.read()
        stdin_closed.set()

    threading.Thread(target=wait_for_stdin, daemon=True).start()

    strokes = [[(120 + 60 * s + 3 * i, 420 - 8 * i) for i in range(12)] for s in range(2)]
    drawn = False
    while not stdin_closed.is_set() and client.running:
        client._process_events()
        client.pump()
        if not drawn and client.status == "connected":
            for stroke in strokes:
                client.send(
                    {
                        "action": "startline",
                        "point": stroke[0],
                        "color": [40, 160, 40],
                        "thickness": 5,
                    }
                )
                for point in stroke[1:]:
                    client.send({"action": "drawpoint", "point": point})
            drawn = True
            print("repod drew", flush=True)
        client._draw()
        client.clock.tick(60)

    view = {
        pid: [[list(p) for p in line["points"]] for line in info["lines"]]
        for pid, info in client.players.items()
    }
    print("repod sent: " + json.dumps({"strokes": [[list(p) for p in s] for s in strokes]}))
    print("repod view: " + json.dumps(view), flush=True)


if __name__ == "__main__":
    main()
