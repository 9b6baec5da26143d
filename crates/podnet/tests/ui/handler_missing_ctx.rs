// A handler written without the context argument (the lobby's old four-argument form
// is the same mistake the other way round).
use podnet::{Channel, ChannelHandlers, Message};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Message)]
#[message(action = "move")]
struct Move {
    x: i32,
}

#[derive(Default)]
struct Player {
    x: i32,
}

impl Player {
    fn on_move(&mut self, msg: Move) {
        self.x = msg.x;
    }
}

impl Channel for Player {
    type Game = ();
    fn handlers(h: &mut ChannelHandlers<Self>) {
        h.on(Self::on_move);
    }
}

fn main() {}
