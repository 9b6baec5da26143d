// A handler that returns something other than `()` or `Result<(), E>`.
use podnet::{Channel, ChannelHandlers, Message};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Message)]
#[message(action = "move")]
struct Move {
    x: i32,
}

#[derive(Default)]
struct Player;

impl Channel for Player {
    type Game = ();
    fn handlers(h: &mut ChannelHandlers<Self>) {
        h.on(|_, _, msg: Move| msg.x);
    }
}

fn main() {}
