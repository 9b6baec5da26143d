// A client's handle sends and closes from any thread; only the Client pumps.
use podnet::{Client, ClientHandle};

fn pump_from_a_handle(handle: &ClientHandle) {
    handle.pump();
}

fn main() {
    let _ = Client::connect("127.0.0.1:5071", ());
}
