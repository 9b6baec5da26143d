"""The bench protocol on repod's own Server (the third column of `cargo xtask bench`).

Also the game-tick scenario's rooms, as examples/bench_server.rs has them: `join` puts the
player in a room (answered `joined` with its seat), `input` is its latest input, and a
task steps every room 20 times a second (in turns: a tenth of them every 5 ms), sending
its state (256 bytes) to its players.

Usage: python repod_bench_server.py  -> prints `repod server on 127.0.0.1:PORT`, serves forever.
"""

import asyncio
import time

from repod import Channel, Server

TICK = 0.05
SLOTS = 10


class BenchChannel(Channel):
    seat = None

    def Network_ping(self, data):
        self.send(data)

    def Network_move(self, data):
        self.server.moves += 1

    def Network_report(self, data):
        self.send({"action": "report", "moves": self.server.moves})

    def Network_broadcast(self, data):
        self.server.send_to_all(data)

    def Network_join(self, data):
        room = self.server.rooms.setdefault(data["room"], {"seats": [], "acks": []})
        seat = len(room["seats"])
        room["seats"].append(self)
        room["acks"].append(0)
        self.seat = (data["room"], seat)
        self.send({"action": "joined", "room": data["room"], "seat": seat})

    def Network_input(self, data):
        if self.seat is not None:
            room, seat = self.seat
            acks = self.server.rooms[room]["acks"]
            acks[seat] = max(acks[seat], data["seq"])

    def Network_disconnected(self, data):
        if self.seat is not None:
            room, seat = self.seat
            self.server.rooms[room]["seats"][seat] = None


class BenchServer(Server):
    channel_class = BenchChannel
    moves = 0

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.rooms = {}


async def step(server):
    # In turns, as the podnet server does: a tenth of the rooms (by number) every 5 ms.
    pad = b"\x55" * 190
    tick = 0
    slot = 0
    next_at = time.monotonic() + TICK / SLOTS
    while True:
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        next_at += TICK / SLOTS
        if slot == 0:
            tick += 1
        this_slot, slot = slot, (slot + 1) % SLOTS
        at_us = time.time_ns() // 1000
        for number, room in list(server.rooms.items()):
            if number % SLOTS != this_slot:
                continue
            state = {"action": "state", "tick": tick, "acks": list(room["acks"]), "at_us": at_us, "pad": pad}
            for channel in room["seats"]:
                if channel is not None:
                    channel.send(state)


async def main():
    server = BenchServer(host="127.0.0.1", port=0)
    await server.start()
    port = server._tcp_server.sockets[0].getsockname()[1]
    print(f"repod server on 127.0.0.1:{port}", flush=True)
    asyncio.get_running_loop().create_task(step(server))
    await asyncio.Future()


asyncio.run(main())
