"""The bench protocol on repod's own Server (the third column of `cargo xtask bench`).

Usage: python repod_bench_server.py  -> prints `repod server on 127.0.0.1:PORT`, serves forever.
"""

import asyncio

from repod import Channel, Server


class BenchChannel(Channel):
    def Network_ping(self, data):
        self.send(data)

    def Network_move(self, data):
        self.server.moves += 1

    def Network_report(self, data):
        self.send({"action": "report", "moves": self.server.moves})

    def Network_broadcast(self, data):
        self.server.send_to_all(data)


class BenchServer(Server):
    channel_class = BenchChannel
    moves = 0


async def main():
    server = BenchServer(host="127.0.0.1", port=0)
    await server.start()
    port = server._tcp_server.sockets[0].getsockname()[1]
    print(f"repod server on 127.0.0.1:{port}", flush=True)
    await asyncio.Future()


asyncio.run(main())
