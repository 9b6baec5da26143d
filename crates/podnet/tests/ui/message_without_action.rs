// A handler for a type that is not a message: it has no action name.
use podnet::{Channel, ChannelHandlers};
use serde::Deserialize;

#[derive(Deserialize)]
struct Move {
    x: i32,
}

#[derive(Default)]
struct Player;

impl Channel for Player {
    type Game = ();
    fn handlers(h: &mut ChannelHandlers<Self>) {
        h.on(|_, _, msg: Move| {
            let _ = msg.x;
        });
    }
}

fn main() {}
