// Something that is not a function where a handler goes.
use podnet::{Channel, ChannelHandlers, Value};

#[derive(Default)]
struct Player;

impl Channel for Player {
    type Game = ();
    fn handlers(h: &mut ChannelHandlers<Self>) {
        h.on_value::<(), _>("move", "not a function");
        let _: Option<Value> = None;
    }
}

fn main() {}
