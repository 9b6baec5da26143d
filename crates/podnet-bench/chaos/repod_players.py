"""repod's players in podnet's chaos run (crates/podnet-bench/src/bin/chaos.rs).

Real `repodnet` clients (`ConnectionListener`, unmodified) play the chaos run's relay
game on podnet's lobby nodes, through the run's fault proxies. repod does not resume: a
cut ends the connection, and the player logs in again on the next node. Each player
checks every line of every game as the Rust players do: once, in order, or the game's
early end reported.

    python repod_players.py LINES STALL_MS SAY_MS FIRST COUNT ADDR...

Plays until stdin closes, then prints `TALLY name=value ...` and exits.
"""

import sys
import threading
import time

from repod import ConnectionListener

NODE_GONE = "the server running this game stopped"
CUT_OFF = "the server running this game lost touch with yours"
FIELDS = [
    "games_done", "lines_checked", "lost", "repeated", "stalled", "ended_node_gone",
    "ended_left", "ended_other", "resumed", "home_lost", "classic_cut", "logins",
    "refused_logins",
]
tally = dict.fromkeys(FIELDS, 0)


def log(line):
    print(f"chaos: {line}", file=sys.stderr, flush=True)


class Player(ConnectionListener):
    def __init__(self, name, lines, stall):
        self.name, self.lines, self.stall = name, lines, stall
        self.gone = False
        self.game = None
        self.retry_login = None
        self.started = time.monotonic()
        self.answered = False

    def login(self):
        self.send({"action": "login", "name": self.name})

    def Network_login_required(self, data):
        self.answered = True
        self.login()
        tally["logins"] += 1

    def Network_login_refused(self, data):
        tally["refused_logins"] += 1
        self.retry_login = time.monotonic() + 0.3

    def Network_disconnected(self, data):
        if self.answered:
            tally["classic_cut"] += 1
        self.gone = True

    def Network_error(self, data):
        self.gone = True

    def Network_game_start(self, data):
        self.game = {
            "session": data["session"],
            "name": "",
            "expected": [1] * len(data["players"]),
            "next_say": 1,
            "last_line": time.monotonic(),
            "stalled": False,
        }

    def Network_table(self, data):
        if self.game is not None:
            self.game["name"] = data["game"]

    def Network_said(self, data):
        game = self.game
        if game is None:
            return
        seat, n = data["seat"], data["n"]
        if seat >= len(game["expected"]):
            return
        expected = game["expected"][seat]
        if n < expected:
            tally["repeated"] += 1
            log(f"{self.name} got line {n} of seat {seat} again (game {game['session']})")
        else:
            if n > expected:
                tally["lost"] += n - expected
                log(f"{self.name} missed lines {expected}..{n} of seat {seat} (game {game['session']})")
            game["expected"][seat] = n + 1
        tally["lines_checked"] += 1
        game["last_line"] = time.monotonic()

    def Network_game_over(self, data):
        game, self.game = self.game, None
        if game is None:
            return
        result = data["result"]
        if result == "done":
            missing = sum(max(0, self.lines + 1 - e) for e in game["expected"])
            if missing:
                tally["lost"] += missing
                log(f"{self.name}'s game {game['session']} ended with {missing} lines missing")
            tally["games_done"] += 1
        elif result in (NODE_GONE, CUT_OFF):
            tally["ended_node_gone"] += 1
        elif result.startswith("left: "):
            tally["ended_left"] += 1
        else:
            tally["ended_other"] += 1

    def network_received(self, data):
        pass

    def tick(self, now):
        if not self.answered and now - self.started > 3:
            # Its node is down (killed, not back yet): try the next one.
            self.gone = True
        if self.retry_login is not None and now >= self.retry_login:
            self.retry_login = None
            self.login()
        game = self.game
        if game is None:
            return
        if game["name"] and game["next_say"] <= self.lines:
            self.send({"action": "say", "game": game["name"], "n": game["next_say"]})
            game["next_say"] += 1
        if not game["stalled"] and now - game["last_line"] > self.stall:
            game["stalled"] = True
            tally["stalled"] += 1
            log(f"{self.name}'s game {game['session']} stalled")


def main():
    lines, stall_ms, say_ms, first, count = (int(a) for a in sys.argv[1:6])
    addrs = [a.rsplit(":", 1) for a in sys.argv[6:]]
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    attempts = [0] * count
    players = [None] * count
    again_at = [0.0] * count
    next_say = time.monotonic()
    while not stop.is_set():
        now = time.monotonic()
        for i in range(count):
            player = players[i]
            if player is not None and player.gone:
                if player.connection is not None:
                    player.connection.close()
                players[i], again_at[i] = None, now + 0.2
            if players[i] is None and now >= again_at[i]:
                attempts[i] += 1
                host, port = addrs[(first + i + attempts[i]) % len(addrs)]
                player = Player(f"r{first + i}x{attempts[i]}", lines, stall_ms / 1000)
                player.connect(host, int(port))
                players[i] = player
            if players[i] is not None:
                players[i].pump()
        if now >= next_say:
            next_say = now + say_ms / 1000
            for player in players:
                if player is not None:
                    player.tick(now)
        time.sleep(0.003)
    for player in players:
        if player is not None and player.connection is not None:
            player.connection.close()
    print("TALLY " + " ".join(f"{k}={v}" for k, v in tally.items()), flush=True)


if __name__ == "__main__":
    main()
