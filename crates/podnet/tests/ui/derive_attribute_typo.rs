// A typo in the derive's attribute, and a reserved action.
use podnet::Message;
use serde::Serialize;

#[derive(Serialize, Message)]
#[message(actoin = "move")]
struct Move {
    x: i32,
}

#[derive(Serialize, Message)]
#[message(action = "podnet:move")]
struct Sneaky {
    x: i32,
}

fn main() {}
