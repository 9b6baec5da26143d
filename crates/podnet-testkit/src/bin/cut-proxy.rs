//! `cut-proxy TARGET [SEED]`: the test kit's fault-injecting proxy for programs in other
//! languages (the TypeScript client's tests). Prints `listening ADDR` once it accepts;
//! then each line on stdin is a command: `cut both`, `cut client` or `cut server` cuts
//! every connection through it (answered with `cut N`, N the connections accepted so
//! far), `target ADDR` sends new connections to another server (answered `target ADDR`),
//! `accepted` prints that count. Ends when stdin closes.

use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::process::ExitCode;

use podnet_testkit::{Cut, Proxy};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(Ok(target)) = args.next().map(|a| a.parse::<SocketAddr>()) else {
        eprintln!("usage: cut-proxy TARGET_ADDR [SEED]   (TARGET_ADDR like 127.0.0.1:5071)");
        return ExitCode::from(2);
    };
    let seed = args.next().and_then(|s| s.parse().ok()).unwrap_or(1);
    let proxy = match Proxy::start(target, seed) {
        Ok(proxy) => proxy,
        Err(error) => {
            eprintln!("cut-proxy: cannot listen on loopback: {error}");
            return ExitCode::FAILURE;
        }
    };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "listening {}", proxy.addr());
    let _ = out.flush();
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let words: Vec<&str> = line.split_whitespace().collect();
        let answer = match words.as_slice() {
            ["cut", how] => match how.parse::<Cut>() {
                Ok(how) => {
                    proxy.cut(how);
                    format!("cut {}", proxy.accepted())
                }
                Err(error) => format!("error {error}"),
            },
            ["accepted"] => format!("accepted {}", proxy.accepted()),
            ["target", addr] => match addr.parse::<SocketAddr>() {
                Ok(addr) => {
                    proxy.retarget(addr);
                    format!("target {addr}")
                }
                Err(error) => format!("error not an address {addr:?}: {error}"),
            },
            [] => continue,
            _ => format!(
                "error unknown command {line:?}: say cut both|client|server, target ADDR, or accepted"
            ),
        };
        let _ = writeln!(out, "{answer}");
        let _ = out.flush();
    }
    ExitCode::SUCCESS
}
