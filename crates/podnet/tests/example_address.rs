//! The examples' `[HOST [PORT]]` arguments (examples/common/address.rs): repod's defaults
//! for what is left out, and a usage line for anything else.

#[path = "../../../examples/common/address.rs"]
mod address;

use address::address;

fn words(line: &str) -> Vec<String> {
    line.split_whitespace().map(str::to_owned).collect()
}

#[test]
fn host_and_port_as_repod_takes_them() {
    assert_eq!(
        address("chat_server", &words("")).unwrap(),
        "127.0.0.1:5071"
    );
    assert_eq!(
        address("chat_server", &words("0.0.0.0")).unwrap(),
        "0.0.0.0:5071"
    );
    assert_eq!(
        address("chat_server", &words("localhost 5999")).unwrap(),
        "localhost:5999"
    );
}

#[test]
fn anything_else_gets_the_usage_line() {
    for line in [
        "--port 5999",
        "127.0.0.1 5071 extra",
        "127.0.0.1 port",
        "-h",
    ] {
        let usage = address("chat_server", &words(line)).unwrap_err();
        assert!(
            usage.starts_with("usage: cargo run --example chat_server -- [HOST [PORT]]"),
            "{line:?}: {usage}"
        );
    }
}
