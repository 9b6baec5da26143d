"""podnet's replicated state for repod clients: a mixin for a `ConnectionListener`.

A podnet server's `podnet_state::Replicated` sends `state:full` (the whole state of the
player's view) and then `state:patch` messages (what changed); this mixin applies them,
so a repod client follows the state too (docs/state.md has the wire format):

    from repod import ConnectionListener
    from podnet_state import StateMixin

    class Player(StateMixin, ConnectionListener):
        def on_state_change(self, name, path, kind, value):
            print(name, path, kind, value)   # kind: "added", "changed" or "removed"

    player = Player()
    player.connect("localhost", 5071)
    while True:
        player.pump()
        arena = player.states.get("state")   # dicts, lists and values, as msgpack gives them

Copy this file next to your game (it needs nothing but repod).
"""

_REMOVE, _SET, _TRUNCATE = 0, 1, 2
MAX_DEPTH = 64


class BadPatch(Exception):
    """A state message that does not fit the state this client has."""


def _child(node, step):
    if isinstance(node, dict):
        if step not in node:
            raise BadPatch(f"no entry {step!r}")
        return node[step]
    if isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node):
        return node[step]
    raise BadPatch(f"no place {step!r}")


def apply_op(tree, op, changes):
    """Applies one patch op to `tree` (a dict or list, changed in place); returns the new
    tree (a new root for a set at the empty path) and appends what changed to `changes`
    as (path, kind, value)."""
    if not isinstance(op, list) or len(op) < 2 or not isinstance(op[1], list):
        raise BadPatch(f"not an op: {op!r}")
    kind, path = op[0], op[1]
    if len(path) > MAX_DEPTH:
        raise BadPatch("a path too deep")
    if kind == _TRUNCATE and len(op) == 3:
        node = tree
        for step in path:
            node = _child(node, step)
        if not isinstance(node, list) or not isinstance(op[2], int):
            raise BadPatch("not a list")
        for i in range(op[2], len(node)):
            changes.append((path + [i], "removed", None))
        del node[op[2]:]
        return tree
    if not path:
        if kind == _SET and len(op) == 3:
            changes.append(([], "changed", op[2]))
            return op[2]
        raise BadPatch("the root cannot be removed")
    node = tree
    for step in path[:-1]:
        node = _child(node, step)
    last = path[-1]
    if kind == _SET and len(op) == 3:
        value = op[2]
        if isinstance(node, dict):
            changes.append((path, "changed" if last in node else "added", value))
            node[last] = value
        elif isinstance(node, list) and isinstance(last, int) and 0 <= last <= len(node):
            if last == len(node):
                node.append(value)
                changes.append((path, "added", value))
            else:
                node[last] = value
                changes.append((path, "changed", value))
        else:
            raise BadPatch(f"no place {last!r}")
    elif kind == _REMOVE and len(op) == 2 and isinstance(node, dict) and last in node:
        del node[last]
        changes.append((path, "removed", None))
    else:
        raise BadPatch(f"an op that does not fit: {op!r}")
    return tree


class StateMixin:
    """Follows a podnet server's replicated states: `self.states[name]` is each one, kept
    up to date; `on_state_change(name, path, kind, value)` is called for each change."""

    @property
    def states(self):
        if "_podnet_states" not in self.__dict__:
            self.__dict__["_podnet_states"] = {}
        return self.__dict__["_podnet_states"]

    def on_state_change(self, name, path, kind, value):
        """Override to act on changes."""

    def _state_full(self, data):
        name = data.get("name")
        self.states[name] = data.get("state")
        self.on_state_change(name, [], "changed", self.states[name])

    def _state_patch(self, data):
        name = data.get("name")
        if name not in self.states:
            raise BadPatch("a patch before the whole state")
        changes = []
        tree = self.states[name]
        for op in data.get("ops", []):
            tree = apply_op(tree, op, changes)
        self.states[name] = tree
        for path, kind, value in changes:
            self.on_state_change(name, path, kind, value)


# repod calls `Network_<action>`; these actions have a colon, so they are set by name.
setattr(StateMixin, "Network_state:full", StateMixin._state_full)
setattr(StateMixin, "Network_state:patch", StateMixin._state_patch)
