//! The address an example is given, as repod's examples take it: `[HOST [PORT]]` on the
//! command line, repod's 127.0.0.1 and 5071 for what is left out. Anything else (a flag
//! such as `--port`, a third word, a port that is not a number) gets a usage line.

// Each example uses some of these functions.
#![allow(dead_code)]

use std::collections::BTreeMap;

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

/// A command line of `[HOST [PORT]]` and the example's own options: `valued` take the
/// word after them (`--connect ADDR`), `switches` stand alone (`--report`).
pub(crate) struct CommandLine {
    /// `HOST:PORT`.
    pub(crate) addr: String,
    options: BTreeMap<String, Option<String>>,
}

impl CommandLine {
    /// The value given after option `name`, if it was given.
    pub(crate) fn value(&self, name: &str) -> Option<&str> {
        self.options.get(name)?.as_deref()
    }

    /// Whether switch `name` was given.
    pub(crate) fn has(&self, name: &str) -> bool {
        self.options.contains_key(name)
    }
}

/// Reads `words` as `[HOST [PORT]]` plus the options named; anything else (an unknown
/// flag, a valued option without its value, a third word) gets the usage line.
pub(crate) fn parse(
    example: &str,
    words: &[String],
    valued: &[&str],
    switches: &[&str],
) -> Result<CommandLine, String> {
    let mut options_usage: Vec<String> = valued.iter().map(|v| format!("[{v} ...]")).collect();
    options_usage.extend(switches.iter().map(|s| format!("[{s}]")));
    let usage = |why: String| {
        format!(
            "{why}\nusage: cargo run --example {example} -- [HOST [PORT]] {}   (default \
             address: {}:{})",
            options_usage.join(" "),
            podnet::DEFAULT_HOST,
            podnet::DEFAULT_PORT
        )
    };
    let mut positional = Vec::new();
    let mut options = BTreeMap::new();
    let mut words = words.iter();
    while let Some(word) = words.next() {
        if valued.contains(&word.as_str()) {
            let Some(value) = words.next() else {
                return Err(usage(format!("{word} needs a value")));
            };
            options.insert(word.clone(), Some(value.clone()));
        } else if switches.contains(&word.as_str()) {
            options.insert(word.clone(), None);
        } else if word.starts_with('-') {
            return Err(usage(format!("unknown option {word}")));
        } else {
            positional.push(word.clone());
        }
    }
    let addr = address(example, &positional).map_err(|_| usage("a bad address".to_owned()))?;
    Ok(CommandLine { addr, options })
}

/// [`parse`] of this program's command line; prints the usage line and exits (status 2)
/// if it is not one.
pub(crate) fn command_line(example: &str, valued: &[&str], switches: &[&str]) -> CommandLine {
    let words: Vec<String> = std::env::args().skip(1).collect();
    parse(example, &words, valued, switches).unwrap_or_else(|usage| {
        eprintln!("{usage}");
        std::process::exit(2);
    })
}
