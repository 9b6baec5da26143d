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

_SET, _TRUNCATE, _MERGE = 1, 2, 3
# The msgpack ext type that marks an entry removed by a merge.
_REMOVED_EXT = 80
MAX_DEPTH = 64


def _removed(value):
    return getattr(value, "code", None) == _REMOVED_EXT and isinstance(getattr(value, "data", None), bytes)


def _merge(target, changes, path, out):
    for key, value in changes.items():
        at = path + [key]
        if _removed(value):
            if key in target:
                del target[key]
                out.append((at, "removed", None))
        elif key in target and isinstance(value, dict) and isinstance(target[key], dict):
            _merge(target[key], value, at, out)
        else:
            out.append((at, "changed" if key in target else "added", value))
            target[key] = value


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
    if kind == _MERGE and len(op) == 3:
        node = tree
        for step in path:
            node = _child(node, step)
        if not isinstance(node, dict) or not isinstance(op[2], dict):
            raise BadPatch("a merge that does not fit")
        _merge(node, op[2], list(path), changes)
        return tree
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
