//! The address an example is given, as repod's examples take it: `[HOST [PORT]]` on the
//! command line, repod's 127.0.0.1 and 5071 for what is left out. Anything else (a flag
//! such as `--port`, a third word, a port that is not a number) gets a usage line.

// Each example uses one of the two functions.
#![allow(dead_code)]

/// `HOST:PORT` from `words` (the command line after the program's name), or the usage
/// line to print.
pub(crate) fn address(example: &str, words: &[String]) -> Result<String, String> {
    let usage = || {
        format!(
            "usage: cargo run --example {example} -- [HOST [PORT]]   (default: {}:{})",
            podnet::DEFAULT_HOST,
            podnet::DEFAULT_PORT
        )
    };
    if words.len() > 2 || words.iter().any(|word| word.starts_with('-')) {
        return Err(usage());
    }
    let host = words.first().map_or(podnet::DEFAULT_HOST, String::as_str);
    let port = match words.get(1) {
        Some(port) => port.parse::<u16>().map_err(|_| usage())?,
        None => podnet::DEFAULT_PORT,
    };
    Ok(format!("{host}:{port}"))
}

/// [`address`] of this program's command line; prints the usage line and exits (status
/// 2) if it is not one.
pub(crate) fn from_command_line(example: &str) -> String {
    let words: Vec<String> = std::env::args().skip(1).collect();
    address(example, &words).unwrap_or_else(|usage| {
        eprintln!("{usage}");
        std::process::exit(2);
    })
}
