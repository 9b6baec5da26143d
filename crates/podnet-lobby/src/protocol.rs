//! The lobby's messages on the wire: repod-style maps with an `action` key, so any repod
//! or podnet client can take part. Clients send [`Login`]; everything else comes from the
//! server. A game's own messages travel the same connection during a session.

use podnet_framing::Message;
use serde::{Deserialize, Serialize};

/// Server → client, on connecting: log in within `timeout_secs` with a name of at most
/// `max_name_len` characters.
///
/// Wire: `{"action": "login_required", "max_name_len": 16, "timeout_secs": 30}`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginRequired {
    /// The longest name accepted, in characters.
    pub max_name_len: usize,
    /// Seconds left to log in.
    pub timeout_secs: u64,
}
impl Message for LoginRequired {
    const ACTION: &'static str = "login_required";
}

/// Client → server: the name to play under. A refused login may be retried on the same
/// connection.
///
/// Wire: `{"action": "login", "name": "alice"}`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Login {
    /// The name asked for.
    pub name: String,
}
impl Message for Login {
    const ACTION: &'static str = "login";
}

/// Server → client: the login was refused; try another name.
///
/// Wire: `{"action": "login_refused", "name": "alice", "reason": "the name is taken"}`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginRefused {
    /// The name that was asked for (empty if there was none).
    pub name: String,
    /// Why, in words for the player.
    pub reason: String,
}
impl Message for LoginRefused {
    const ACTION: &'static str = "login_refused";
}

/// Server → client: you are in the lobby, waiting for a group. Sent after a login, and
/// again each time a session ends and the player comes back.
///
/// Wire: `{"action": "welcome", "name": "alice", "group_size": 2, "waiting": ["alice"]}`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Welcome {
    /// The player's name.
    pub name: String,
    /// Players per group.
    pub group_size: usize,
    /// Who is waiting now, in join order (the player included).
    pub waiting: Vec<String>,
}
impl Message for Welcome {
    const ACTION: &'static str = "welcome";
}

/// Server → every waiting player, whenever who is waiting changes.
///
/// Wire: `{"action": "lobby", "waiting": ["alice", "bob"], "group_size": 3}`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LobbyUpdate {
    /// Who is waiting, in join order.
    pub waiting: Vec<String>,
    /// Players per group.
    pub group_size: usize,
}
impl Message for LobbyUpdate {
    const ACTION: &'static str = "lobby";
}

/// Server → each player of a new group: a session starts. From here until
/// [`GameOver`], the connection carries the game's own messages.
///
/// Wire: `{"action": "game_start", "session": 1, "players": ["alice", "bob"], "seat": 0,
/// "kind": "dice"}`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GameStart {
    /// The session's number, unique in this lobby.
    pub session: u64,
    /// The players, by seat.
    pub players: Vec<String>,
    /// This player's seat: their index in `players`.
    pub seat: usize,
    /// The kind of game the group chose (see [`ChooseGame`]); empty when the lobby has
    /// only one kind.
    #[serde(default)]
    pub kind: String,
}
impl Message for GameStart {
    const ACTION: &'static str = "game_start";
}

/// Server → each player of a new group, when the lobby offers several kinds of game
/// (`LobbyConfig::game_kinds`): vote for one with [`Choose`] within `timeout_secs`. Once
/// everyone has voted, or the time is up, the kind with the most votes is played; a tie
/// goes to the kind listed first, and so does a group where nobody voted. A player may
/// change their vote until then. [`GameStart`] follows, with the `kind`. If a player
/// leaves meanwhile, the group goes back to the front of the waiting room and is welcomed
/// again.
///
/// Wire: `{"action": "choose_game", "kinds": ["dice", "cards"], "players": ["alice",
/// "bob"], "timeout_secs": 15}`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChooseGame {
    /// The kinds on offer, in the lobby's order.
    pub kinds: Vec<String>,
    /// The group, in seat order.
    pub players: Vec<String>,
    /// Seconds left to vote.
    pub timeout_secs: u64,
}
impl Message for ChooseGame {
    const ACTION: &'static str = "choose_game";
}

/// Client → server, after [`ChooseGame`]: this player's vote.
///
/// Wire: `{"action": "choose", "kind": "dice"}`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Choose {
    /// One of the kinds on offer.
    pub kind: String,
}
impl Message for Choose {
    const ACTION: &'static str = "choose";
}

/// Server → each player still in a session when it ends; a [`Welcome`] follows.
///
/// Wire: `{"action": "game_over", "session": 1, "result": "alice won"}`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GameOver {
    /// The session that ended.
    pub session: u64,
    /// How it ended, as the game put it.
    pub result: String,
}
impl Message for GameOver {
    const ACTION: &'static str = "game_over";
}

/// Server → client: a message the lobby could not take (unknown action, missing field,
/// undecodable frame, or nothing to do at this stage). The connection stays open.
///
/// Wire: `{"action": "lobby_error", "reason": "..."}`. (Not `error`: repod clients use
/// that name for their own socket-error event.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LobbyError {
    /// What was wrong, in words for the developer.
    pub reason: String,
}
impl Message for LobbyError {
    const ACTION: &'static str = "lobby_error";
}
