"""repod's side of podnet's interop scenarios, driven by ../interop.rs.

Every scenario uses the real `repodnet` package (pinned in xtask/python/requirements.txt):
its `ConnectionListener` clients and its `Server`, unmodified. Each prints `OK ...` and exits 0
when everything it expected happened, or exits non-zero saying what did not, within DEADLINE.

    python scenarios.py clients PORT        repod clients on a podnet server (scenario 1)
    python scenarios.py server              a repod server for podnet clients (scenario 2);
                                            prints `PORT n` once listening
    python scenarios.py control PORT        podnet control messages reach repod (scenario 3)
    python scenarios.py burst PORT N        a mixed-room burst, N messages per sender (scenario 4)
    python scenarios.py quiet PORT SECONDS  a repod watcher quiet for SECONDS stays (scenario 5)
    python scenarios.py full PORT N         N silent sockets fill a server; a player gets in (scenario 6)
    python scenarios.py state PORT ROUNDS   a repod client follows a replicated state (scenario 8)
"""

import asyncio
import socket
import struct
import sys
import time

from repod import Channel, ConnectionListener, Server

DEADLINE = 20.0


def fail(why):
    print(f"FAIL {why}", flush=True)
    sys.exit(1)


def pump_until(clients, done, what):
    end = time.monotonic() + DEADLINE
    while not done():
        if time.monotonic() > end:
            fail(f"timed out waiting for {what}")
        for client in clients:
            client.pump()
        time.sleep(0.001)


class Recorder(ConnectionListener):
    """A repod client that records everything it is given."""

    def __init__(self, name):
        self.name = name
        self.connected = 0
        self.socket_connects = 0
        self.disconnected = 0
        self.chats = []
        self.unknown = []
        self.bursts = []

    def Network_connected(self, data):
        self.connected += 1

    def Network_socketConnect(self, data):
        self.socket_connects += 1

    def Network_disconnected(self, data):
        self.disconnected += 1

    def Network_error(self, data):
        fail(f"{self.name} got an error: {data}")

    def Network_chat(self, data):
        self.chats.append((data["who"], data["text"]))

    def Network_burst(self, data):
        self.bursts.append((data["from"], data["seq"]))

    def network_received(self, data):
        self.unknown.append(data)


# Every msgpack type Python sends; podnet's typed handler checks each value.
ALL_TYPES = {
    "action": "types",
    "s": "h\u00e9llo \u2713",
    "b": b"\x00\x01\xff",
    "neg": -5,
    "big": 2**63 + 5,
    "i64min": -(2**63),
    "f": 3.25,
    "t": True,
    "n": None,
    "lst": [1, "two", [3.5, None]],
    "m": {"k": {"deep": [True]}},
}


def scenario_clients(port):
    """Scenario 1: two repod clients chat with two podnet clients through a podnet server."""
    a, b = Recorder("pyA"), Recorder("pyB")
    for c in (a, b):
        c.connect("127.0.0.1", port)
    # repod raises `connected` locally on connect and again for the server's greeting.
    pump_until((a, b), lambda: a.connected >= 2 and b.connected >= 2, "the server's greeting")
    a.send(ALL_TYPES)
    for c in (a, b):
        c.send({"action": "chat", "who": c.name, "text": f"hello from {c.name}"})
    expected = {"pyA", "pyB", "rsA", "rsB"}
    pump_until(
        (a, b),
        lambda: all({who for who, _ in c.chats} == expected for c in (a, b)),
        "every chat line (python and podnet)",
    )
    for c in (a, b):
        if len(c.chats) != 4:
            fail(f"{c.name} got {len(c.chats)} chat lines, expected 4: {c.chats}")
    # Tell the server we are done; it closes pyA with a reason.
    a.send({"action": "done"})
    pump_until((a, b), lambda: a.disconnected >= 1, "pyA to be disconnected by the server")
    reasons = [u.get("reason") for u in a.unknown if u.get("action") == "podnet:close"]
    if reasons != ["bye pyA"]:
        fail(f"pyA expected podnet:close 'bye pyA' as an unknown action, got {a.unknown}")
    # pyB leaves on its own; the server must see it go.
    b.connection.close()
    print(f"OK clients: chats {sorted(a.chats)}", flush=True)


class EchoChannel(Channel):
    """The repod server's channel for scenario 2 (and 3's podnet:hello check)."""

    def Network_request(self, data):
        self.send({"action": "response", "n": data["n"] * 2})

    def Network_shout(self, data):
        self.server.send_to_all({"action": "shout", "text": data["text"]})

    def Network_kick(self, data):
        # The server closes this client's connection.
        asyncio.ensure_future(self._handle_close())

    def network_received(self, data):
        self.server.unknown.append(data)


class EchoServer(Server):
    channel_class = EchoChannel

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.unknown = []
        self.seen = 0

    def on_connect(self, channel, addr):
        self.seen += 1


def scenario_server():
    """Scenario 2: a repod server; podnet clients connect, ask, shout, get kicked, leave."""

    async def main():
        server = EchoServer(host="127.0.0.1", port=0)
        await server.start()
        port = server._tcp_server.sockets[0].getsockname()[1]
        print(f"PORT {port}", flush=True)
        end = time.monotonic() + DEADLINE
        # Run until two clients came and went.
        while not (server.seen >= 2 and not server.channels):
            if time.monotonic() > end:
                fail(f"timed out: {server.seen} clients seen, {len(server.channels)} still here")
            await asyncio.sleep(0.01)
        hellos = [u for u in server.unknown if u.get("action") == "podnet:hello"]
        if len(hellos) != 2 or any(h.get("protocol") != 2 or h.get("type") != "classic" for h in hellos):
            fail(f"expected two podnet:hello as unknown actions, got {server.unknown}")
        await server.stop()
        print(f"OK server: unknown actions seen {sorted(u['action'] for u in server.unknown)}", flush=True)

    asyncio.run(main())


def scenario_control(port):
    """Scenario 3: podnet's control messages reach a repod client as unknown actions."""
    c = Recorder("pyC")
    c.connect("127.0.0.1", port)
    pump_until((c,), lambda: c.connected >= 2, "the server's greeting")
    # Say hello as a podnet peer would: the podnet server answers hello and starts pinging.
    c.send({"action": "podnet:hello", "protocol": 2})
    actions = lambda: {u.get("action") for u in c.unknown}
    pump_until((c,), lambda: {"podnet:hello", "podnet:ping"} <= actions(), "podnet:hello and podnet:ping")
    # Nothing broke: ordinary messages still go both ways.
    c.send({"action": "chat", "who": "pyC", "text": "still here"})
    pump_until((c,), lambda: ("pyC", "still here") in c.chats, "the chat echo")
    # Now the podnet server closes us with a reason: another unknown action, then the disconnect.
    c.send({"action": "done"})
    pump_until((c,), lambda: c.disconnected >= 1, "the server's close")
    reasons = [u.get("reason") for u in c.unknown if u.get("action") == "podnet:close"]
    if reasons != ["bye pyC"]:
        fail(f"expected podnet:close 'bye pyC', got {c.unknown}")
    print(f"OK control: unknown actions {sorted(actions())}", flush=True)


def scenario_burst(port, per_sender):
    """Scenario 4: two repod and two podnet clients each send N bursts; everyone gets all."""
    a, b = Recorder("pyA"), Recorder("pyB")
    for c in (a, b):
        c.connect("127.0.0.1", port)
    pump_until((a, b), lambda: a.connected >= 2 and b.connected >= 2, "the server's greeting")
    a.send({"action": "ready", "who": "pyA"})
    b.send({"action": "ready", "who": "pyB"})
    # The server says go once all four are connected.
    pump_until((a, b), lambda: any(u.get("action") == "go" for u in a.unknown)
               and any(u.get("action") == "go" for u in b.unknown), "go")
    for seq in range(per_sender):
        for c in (a, b):
            c.send({"action": "burst", "from": c.name, "seq": seq})
    total = 4 * per_sender
    pump_until((a, b), lambda: len(a.bursts) >= total and len(b.bursts) >= total, f"{total} bursts each")
    for c in (a, b):
        if len(c.bursts) != total:
            fail(f"{c.name} got {len(c.bursts)} bursts, expected {total}")
        next_seq = {}
        for sender, seq in c.bursts:
            if seq != next_seq.get(sender, 0):
                fail(f"{c.name}: burst {seq} from {sender} out of order or repeated")
            next_seq[sender] = seq + 1
        if sorted(next_seq.items()) != sorted((s, per_sender) for s in ("pyA", "pyB", "rsA", "rsB")):
            fail(f"{c.name}: per-sender counts {next_seq}")
    a.send({"action": "done"})
    b.send({"action": "done"})
    pump_until((a, b), lambda: a.disconnected and b.disconnected, "the server's close")
    print(f"OK burst: {total} messages each, in order per sender", flush=True)


def scenario_join(port, clients, bound_ms):
    """Scenario 7: repod clients that listen before they speak (repod's whiteboard client,
    a spectator) are greeted at once: each gets the server's `connected` within
    `bound_ms` of connecting (an upper bound that a server waiting 500 ms for a hello
    would fail, not a benchmark)."""
    times = []
    for i in range(clients):
        c = Recorder(f"listener{i}")
        start = time.monotonic()
        c.connect("127.0.0.1", port)
        # repod raises `connected` itself when its socket opens; the second is the server's.
        pump_until((c,), lambda: c.connected >= 2, "the server's greeting")
        times.append((time.monotonic() - start) * 1000)
        c.pump()
        podnet_actions = [u.get("action") for u in c.unknown if u.get("action", "").startswith("podnet:")]
        if podnet_actions not in ([], ["podnet:hello"]):
            fail(f"{c.name} got podnet messages beyond the hello it ignores: {podnet_actions}")
        c.connection.close()
    slowest = max(times)
    print(f"JOIN {slowest:.1f} ms at most ({', '.join(f'{t:.1f}' for t in times)})", flush=True)
    if slowest > bound_ms:
        fail(f"a listening repod client waited {slowest:.1f} ms for its greeting (bound {bound_ms} ms)")
    print(f"OK join: {clients} listening repod clients greeted within {bound_ms} ms", flush=True)


def scenario_quiet(port, seconds):
    """Scenario 5: a repod watcher that never sends anything is kept, and gets what is
    broadcast after its silence; beside it, a client that said podnet's hello and then never
    answers a ping is timed out, which shows the server's timers run meanwhile."""
    watcher, impostor = Recorder("watcher"), Recorder("impostor")
    for c in (watcher, impostor):
        c.connect("127.0.0.1", port)
    pump_until((watcher, impostor), lambda: watcher.connected >= 2 and impostor.connected >= 2,
               "the server's greeting")
    impostor.send({"action": "podnet:hello", "protocol": 2})
    print("READY", flush=True)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for c in (watcher, impostor):
            c.pump()
        time.sleep(0.005)
    if not impostor.disconnected:
        fail("the client that said hello and never answered a ping was not timed out")
    if watcher.disconnected:
        fail("the quiet watcher was disconnected")
    print("QUIET", flush=True)
    pump_until((watcher,), lambda: any(u.get("action") == "news" for u in watcher.unknown),
               "the broadcast after the silence")
    # A silent client is told, once, that it was settled as a repod player (repod ignores
    # it); it is never pinged.
    podnet_actions = [u for u in watcher.unknown if u.get("action", "").startswith("podnet:")]
    if [u.get("action") for u in podnet_actions] != ["podnet:hello"] or not podnet_actions[0].get("silent"):
        fail(f"the watcher never said hello, yet got {podnet_actions}")
    # Still served both ways: it can speak now, and is closed with a reason when done.
    watcher.send({"action": "done"})
    pump_until((watcher,), lambda: watcher.disconnected >= 1, "the server's close")
    print(f"OK quiet: kept through {seconds} s of silence", flush=True)


def read_frame(sock):
    """One frame's msgpack payload from a blocking socket, or None at end of stream."""
    def exactly(n):
        data = b""
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            if not chunk:
                return None
            data += chunk
        return data
    header = exactly(4)
    return None if header is None else exactly(struct.unpack(">I", header)[0])


def scenario_full(port, n):
    """Scenario 6: N sockets that connect and never send fill the server; a real repod
    player still gets in and is served, and the oldest silent socket is told why it was
    closed to make room."""
    import msgpack

    silent = [socket.create_connection(("127.0.0.1", port)) for _ in range(n)]
    print("FILLED", flush=True)
    player = Recorder("player")
    player.connect("127.0.0.1", port)
    # repod's client drops what is sent before its socket is up: wait for the greeting
    # (it raises `connected` locally once, then for the server's greeting).
    pump_until((player,), lambda: player.connected >= 2, "the server's greeting")
    player.send({"action": "chat", "who": "player", "text": "let me in"})
    pump_until((player,), lambda: ("player", "let me in") in player.chats, "the player's echo")
    # The oldest silent socket (the first) made room: it was greeted after the hello wait,
    # then told why it was closed.
    oldest = silent[0]
    oldest.settimeout(DEADLINE)
    frames = []
    while (payload := read_frame(oldest)) is not None:
        frames.append(msgpack.unpackb(payload))
    closes = [f.get("reason", "") for f in frames if f.get("action") == "podnet:close"]
    if len(closes) != 1 or "server full" not in closes[0]:
        fail(f"the oldest silent socket expected a podnet:close, got {frames}")
    player.send({"action": "done"})
    pump_until((player,), lambda: player.disconnected >= 1, "the server's close")
    for sock in silent:
        sock.close()
    print(f"OK full: a player got into a server full of {n} silent sockets", flush=True)


def scenario_state(port, rounds):
    """Scenario 8: a repod client with podnet's state mixin follows a replicated state
    until its round is `rounds`, then prints its copy as msgpack (hex)."""
    import os

    import msgpack

    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "../../../../clients/python"))
    from podnet_state import StateMixin

    class Follower(StateMixin, ConnectionListener):
        def __init__(self):
            self.changes = 0

        def on_state_change(self, name, path, kind, value):
            self.changes += 1

        def network_received(self, data):
            pass

    follower = Follower()
    follower.connect("127.0.0.1", port)
    pump_until(
        (follower,),
        lambda: (follower.states.get("state") or {}).get("round") == rounds,
        f"round {rounds} of the state",
    )
    state = follower.states["state"]
    print(f"STATE {msgpack.packb(state, use_bin_type=True).hex()}", flush=True)
    print(f"OK state: {follower.changes} changes followed to round {rounds}", flush=True)


def main():
    if len(sys.argv) < 2:
        fail(__doc__)
    name, args = sys.argv[1], sys.argv[2:]
    if name == "clients":
        scenario_clients(int(args[0]))
    elif name == "server":
        scenario_server()
    elif name == "control":
        scenario_control(int(args[0]))
    elif name == "burst":
        scenario_burst(int(args[0]), int(args[1]))
    elif name == "state":
        scenario_state(int(args[0]), int(args[1]))
    elif name == "quiet":
        scenario_quiet(int(args[0]), float(args[1]))
    elif name == "join":
        scenario_join(int(args[0]), int(args[1]), float(args[2]))
    elif name == "full":
        scenario_full(int(args[0]), int(args[1]))
    else:
        fail(f"unknown scenario {name}")


if __name__ == "__main__":
    main()
