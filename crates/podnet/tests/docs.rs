//! Keeps what the documentation says about the code honest, where a test can tell:
//!
//! - every relative link in README.md, CHANGELOG.md and docs/*.md leads to a file that
//!   exists;
//! - every repository path the docs name in backticks (`crates/...`, `examples/...`,
//!   `docs/...`, `xtask/...`) exists;
//! - every `Type::member` the docs name, where `Type` is one of podnet's own types, has
//!   that member (a method, field, variant or constant) somewhere in the workspace's
//!   source: a renamed hook or method shows up here;
//! - every guide with Rust code is compiled and run as a doctest (included by a crate's
//!   `lib.rs`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// README.md, CHANGELOG.md and every docs/*.md, with their text.
fn documents() -> Vec<(PathBuf, String)> {
    let root = root();
    let mut paths = vec![root.join("README.md"), root.join("CHANGELOG.md")];
    for entry in std::fs::read_dir(root.join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            paths.push(path);
        }
    }
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            (p, text)
        })
        .collect()
}

/// Every `.rs` file under crates/, examples/ and xtask/, concatenated.
fn all_source() -> String {
    fn walk(dir: &Path, out: &mut String) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n == "target") {
                    continue;
                }
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push_str(&std::fs::read_to_string(&path).unwrap());
                out.push('\n');
            }
        }
    }
    let mut source = String::new();
    for dir in ["crates", "examples", "xtask"] {
        walk(&root().join(dir), &mut source);
    }
    source
}

/// The texts between backticks, outside fenced code blocks.
fn inline_code(text: &str) -> Vec<String> {
    let mut spans = Vec::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        let mut parts = line.split('`');
        parts.next();
        while let (Some(code), Some(_)) = (parts.next(), parts.next()) {
            spans.push(code.to_owned());
        }
    }
    spans
}

#[test]
fn relative_links_lead_to_files() {
    let mut broken = Vec::new();
    for (path, text) in documents() {
        let dir = path.parent().unwrap();
        for (i, _) in text.match_indices("](") {
            let rest = &text[i + 2..];
            let Some(end) = rest.find(')') else { continue };
            let target = &rest[..end];
            if target.starts_with("http") || target.starts_with('#') || target.contains(' ') {
                continue;
            }
            let file = target.split('#').next().unwrap();
            if !dir.join(file).exists() {
                broken.push(format!("{}: {target}", path.display()));
            }
        }
    }
    assert!(
        broken.is_empty(),
        "links to nothing:\n{}",
        broken.join("\n")
    );
}

/// A guide named anywhere in the docs (`docs/NAME.md`, in a link, backticks or plain
/// text) exists, and nothing points at files outside the repository.
#[test]
fn named_guides_exist_and_nothing_points_outside() {
    let mut wrong = Vec::new();
    for (path, text) in documents() {
        for (at, _) in text.match_indices("docs/") {
            let rest = &text[at..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || "/-_.".contains(c)))
                .unwrap_or(rest.len());
            let named = rest[..end].trim_end_matches('.');
            if named.ends_with(".md") && !root().join(named).exists() {
                wrong.push(format!("{}: {named} does not exist", path.display()));
            }
        }
        for outside in ["../shared/", "`shared/", "(shared/"] {
            if text.contains(outside) {
                wrong.push(format!(
                    "{}: names {outside}..., which is not in the repository",
                    path.display()
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn named_repository_paths_exist() {
    let mut missing = Vec::new();
    for (path, text) in documents() {
        for code in inline_code(&text) {
            let candidate = code.split_whitespace().next().unwrap_or_default();
            let is_path = ["crates/", "examples/", "docs/", "xtask/"]
                .iter()
                .any(|p| candidate.starts_with(p));
            if !is_path || candidate.contains('*') || candidate.contains('<') {
                continue;
            }
            let file = candidate.trim_end_matches([',', '.', ':']);
            if !root().join(file).exists() {
                missing.push(format!("{}: {file}", path.display()));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "paths that do not exist:\n{}",
        missing.join("\n")
    );
}

#[test]
fn named_members_of_podnet_types_exist() {
    let source = all_source();
    let own_types: BTreeSet<String> = source
        .lines()
        .filter_map(|line| {
            let line = line.trim_start().trim_start_matches("pub ");
            let line = line.trim_start_matches("pub(crate) ");
            for keyword in ["struct ", "enum ", "trait ", "type "] {
                if let Some(rest) = line.strip_prefix(keyword) {
                    let name: String = rest
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    return Some(name);
                }
            }
            None
        })
        .collect();
    let mut missing = Vec::new();
    let mut checked = 0;
    for (path, text) in documents() {
        if path.ends_with("CHANGELOG.md") {
            continue; // it names what was removed, on purpose
        }
        for code in inline_code(&text) {
            for (i, _) in code.match_indices("::") {
                let before: String = code[..i]
                    .chars()
                    .rev()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect();
                let member: String = code[i + 2..]
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                let is_type = before.chars().next().is_some_and(char::is_uppercase);
                if !is_type || member.is_empty() || !own_types.contains(&before) {
                    continue;
                }
                checked += 1;
                let defined = [
                    format!("fn {member}"),
                    format!("pub {member}:"),
                    format!("    {member} {{"),
                    format!("    {member}("),
                    format!("    {member},"),
                    format!("const {member}"),
                    format!("type {member}"),
                ]
                .iter()
                .any(|needle| source.contains(needle.as_str()));
                if !defined {
                    missing.push(format!("{}: {before}::{member}", path.display()));
                }
            }
        }
    }
    assert!(
        checked > 50,
        "the check found only {checked} names: is it still working?"
    );
    assert!(
        missing.is_empty(),
        "names the docs use that the code does not have:\n{}",
        missing.join("\n")
    );
}

#[test]
fn guides_with_rust_code_are_compiled() {
    let libs: String = [
        "crates/podnet/src/lib.rs",
        "crates/podnet-lobby/src/lib.rs",
        "crates/podnet-cluster/src/lib.rs",
        "crates/podnet-transport/src/lib.rs",
        "crates/podnet-state/src/lib.rs",
    ]
    .iter()
    .map(|p| std::fs::read_to_string(root().join(p)).unwrap())
    .collect();
    let mut uncompiled = Vec::new();
    for (path, text) in documents() {
        let has_rust = text
            .lines()
            .any(|l| l.trim_start().starts_with("```rust") && !l.contains("ignore"));
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let included = libs.contains(&format!("{name}\")"));
        if has_rust && !included {
            uncompiled.push(name);
        }
    }
    assert!(
        uncompiled.is_empty(),
        "documents with Rust code that no doctest includes: {uncompiled:?}"
    );
}

/// Each crate's README is its page on crates.io, read away from the repository: its links
/// are absolute, and its Rust code is compiled and run as a doctest of some crate.
#[test]
fn crate_readmes_stand_alone_and_their_code_runs() {
    let crates = root().join("crates");
    let mut libs = String::new();
    let mut readmes = Vec::new();
    for entry in std::fs::read_dir(&crates).unwrap() {
        let dir = entry.unwrap().path();
        if let Ok(lib) = std::fs::read_to_string(dir.join("src/lib.rs")) {
            libs.push_str(&lib);
        }
        let readme = dir.join("README.md");
        if readme.exists() {
            readmes.push(readme);
        }
    }
    assert!(readmes.len() >= 10, "crate READMEs found: {readmes:?}");
    let mut wrong = Vec::new();
    for readme in readmes {
        let text = std::fs::read_to_string(&readme).unwrap();
        let name = readme
            .parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_string_lossy();
        for (i, _) in text.match_indices("](") {
            let target = &text[i + 2..];
            let target = &target[..target.find(')').unwrap_or(target.len())];
            if !target.starts_with("https://") {
                wrong.push(format!(
                    "{name}/README.md links to {target:?}, not a full URL"
                ));
            }
        }
        let has_rust = text
            .lines()
            .any(|l| l.starts_with("```rust") && !l.contains("ignore"));
        let own = "include_str!(\"../README.md\")";
        let other = format!("include_str!(\"../../{name}/README.md\")");
        // By its own crate's lib.rs, or by another's (a proc-macro crate's, which cannot
        // run doctests that use it).
        let included = std::fs::read_to_string(readme.parent().unwrap().join("src/lib.rs"))
            .is_ok_and(|lib| lib.contains(own))
            || libs.contains(&other);
        if has_rust && !included {
            wrong.push(format!(
                "{name}/README.md has Rust code that no doctest runs"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
