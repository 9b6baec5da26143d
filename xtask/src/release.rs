//! `cargo xtask release --dry-run [--allow-dirty]`: everything a release checks, without
//! publishing.
//!
//! 1. Versions: every publishable crate has the workspace version, and depends on the
//!    others by that version; no publishable crate depends on an unpublished one.
//! 2. Metadata crates.io wants: description, license, repository, an existing readme, at
//!    most 5 keywords and 5 categories.
//! 3. CHANGELOG.md has a `## [VERSION]` section and its link.
//! 4. Links: every relative link in README.md, docs/ and the crates' READMEs points at a
//!    file that exists (and a heading that exists, for `file.md#anchor`); the badges name
//!    this repository, its workflow file and its crates.
//! 5. `cargo package` of every publishable crate, in dependency order, each verified by
//!    building it from its packaged sources against the ones packaged before it.
//!
//! Publishing itself stays a deliberate, manual `cargo publish`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value as Json;

use crate::util::{cargo, project_root, run as run_command};

/// A workspace crate, as `cargo metadata` describes it.
struct Crate {
    name: String,
    version: String,
    publish: bool,
    manifest: PathBuf,
    meta: Json,
}

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let mut dry_run = false;
    let mut allow_dirty = false;
    for arg in args {
        match arg.as_str() {
            "--dry-run" => dry_run = true,
            "--allow-dirty" => allow_dirty = true,
            other => {
                return Err(format!(
                    "unknown argument `{other}`; usage: cargo xtask release --dry-run [--allow-dirty]"
                ));
            }
        }
    }
    if !dry_run {
        return Err(
            "only `cargo xtask release --dry-run` exists: it checks everything a release \
                    needs; publishing is a deliberate `cargo publish` per crate, in the order \
                    the dry run prints"
                .into(),
        );
    }

    let crates = workspace_crates()?;
    let version = workspace_version(&crates)?;
    println!("==> release --dry-run: version {version}");
    let mut problems = Vec::new();

    let order = check_versions_and_order(&crates, &version, &mut problems);
    println!(
        "==> publish order: {}",
        order
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(" → ")
    );
    for krate in crates.iter().filter(|c| c.publish) {
        check_metadata(krate, &mut problems);
    }
    check_changelog(&version, &mut problems);
    check_links(&crates, &mut problems);

    if !problems.is_empty() {
        return Err(format!(
            "the release is not ready:\n  - {}",
            problems.join("\n  - ")
        ));
    }
    println!("==> versions, metadata, CHANGELOG and links: ok");

    clear_stale_packages(&order, &version);
    let check_dir = crate::util::target_dir().join("release-check");
    clear_stale_builds(&check_dir, &order);
    println!("==> cargo package, in dependency order (each built from its package)");
    let mut cmd = cargo();
    cmd.env("CARGO_TARGET_DIR", &check_dir);
    cmd.args(["package", "--locked"]);
    if allow_dirty {
        cmd.arg("--allow-dirty");
    }
    for name in &order {
        cmd.args(["--package", name]);
    }
    run_command(&mut cmd).map_err(|e| {
        format!(
            "{e}\nxtask: if it says the tree is dirty, commit first, or pass --allow-dirty \
             to try the packaging anyway"
        )
    })?;
    let package_dir = check_dir.join("package");
    for name in &order {
        let file = package_dir.join(format!("{name}-{version}.crate"));
        let size = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
        println!("    {} ({:.1} KiB)", file.display(), size as f64 / 1024.0);
    }
    println!("==> release --dry-run: ready to publish {version} (nothing was published)");
    Ok(())
}

/// Removes what earlier dry runs left in cargo's source cache. `cargo package` verifies
/// each crate against the ones packaged before it through a temporary local registry, and
/// cargo unpacks that registry's crates under `$CARGO_HOME/registry/src/<registry>/` by
/// name and version. A copy unpacked by an earlier run of the same version is reused as
/// it is, so a crate would be verified against stale sources of its dependencies
/// (rust-lang/cargo's known behaviour; see 0xMiden/miden-vm#2530). Only our crates, and
/// only in local registries (never crates.io's), are removed.
fn clear_stale_packages(order: &[String], version: &str) {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    let Some(src) = home.map(|h| h.join("registry").join("src")) else {
        return;
    };
    let Ok(registries) = std::fs::read_dir(&src) else {
        return;
    };
    for registry in registries.filter_map(Result::ok) {
        if registry.file_name().to_string_lossy().starts_with("index.") {
            continue; // a real registry, crates.io's among them
        }
        for name in order {
            let unpacked = registry.path().join(format!("{name}-{version}"));
            if unpacked.is_dir() && std::fs::remove_dir_all(&unpacked).is_ok() {
                println!("    removed a stale unpacked copy: {}", unpacked.display());
            }
        }
    }
}

/// Removes what earlier dry runs built of our crates in `dir`, the packaging's own target
/// directory. cargo takes crates from a registry to be immutable, so it reuses what it
/// built of one by name and version without looking at the sources again: a crate
/// verified against a dependency changed since the last dry run would be built against
/// the old build of it. The other crates in `dir` (crates.io's) stay, so a dry run does
/// not rebuild them every time.
fn clear_stale_builds(dir: &std::path::Path, order: &[String]) {
    let prefixes: Vec<String> = order
        .iter()
        .flat_map(|name| {
            [
                format!("{name}-"),
                format!("lib{}-", name.replace('-', "_")),
            ]
        })
        .collect();
    for sub in [".fingerprint", "deps", "build"] {
        let Ok(entries) = std::fs::read_dir(dir.join("debug").join(sub)) else {
            continue;
        };
        for entry in entries.filter_map(Result::ok) {
            let name = entry.file_name().to_string_lossy().into_owned();
            if prefixes.iter().any(|p| name.starts_with(p.as_str())) {
                let path = entry.path();
                let _ = if path.is_dir() {
                    std::fs::remove_dir_all(&path)
                } else {
                    std::fs::remove_file(&path)
                };
            }
        }
    }
}

fn workspace_crates() -> Result<Vec<Crate>, String> {
    let out = cargo()
        .args(["metadata", "--format-version", "1", "--no-deps", "--locked"])
        .output()
        .map_err(|e| format!("could not run cargo metadata: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let meta: Json = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("cargo metadata printed something unexpected: {e}"))?;
    let packages = meta["packages"]
        .as_array()
        .ok_or("cargo metadata has no packages")?;
    Ok(packages
        .iter()
        .map(|p| Crate {
            name: p["name"].as_str().unwrap_or_default().to_owned(),
            version: p["version"].as_str().unwrap_or_default().to_owned(),
            // `publish: []` means never; null means crates.io.
            publish: !matches!(&p["publish"], Json::Array(registries) if registries.is_empty()),
            manifest: PathBuf::from(p["manifest_path"].as_str().unwrap_or_default()),
            meta: p.clone(),
        })
        .collect())
}

/// The version every publishable crate must have: the facade's.
fn workspace_version(crates: &[Crate]) -> Result<String, String> {
    crates
        .iter()
        .find(|c| c.name == "podnet")
        .map(|c| c.version.clone())
        .ok_or_else(|| "no `podnet` crate in the workspace".into())
}

/// Checks versions and inter-crate requirements; returns the publishable crates in an
/// order where each comes after what it depends on.
fn check_versions_and_order(
    crates: &[Crate],
    version: &str,
    problems: &mut Vec<String>,
) -> Vec<String> {
    let by_name: BTreeMap<&str, &Crate> = crates.iter().map(|c| (c.name.as_str(), c)).collect();
    let mut deps: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for krate in crates.iter().filter(|c| c.publish) {
        if krate.version != version {
            problems.push(format!(
                "{} is at {}, not {version}: use `version.workspace = true`",
                krate.name, krate.version
            ));
        }
        let entry = deps.entry(krate.name.as_str()).or_default();
        for dep in krate.meta["dependencies"].as_array().into_iter().flatten() {
            let name = dep["name"].as_str().unwrap_or_default();
            let Some(target) = by_name.get(name) else {
                continue; // not ours
            };
            let dev = dep["kind"].as_str() == Some("dev");
            if dev {
                continue; // dev-dependencies are not part of the package
            }
            if !target.publish {
                problems.push(format!(
                    "{} depends on {name}, which is never published",
                    krate.name
                ));
            }
            let req = dep["req"].as_str().unwrap_or_default();
            if req.trim_start_matches(['^', '=']) != version {
                problems.push(format!(
                    "{} depends on {name} by `{req}`, not `{version}`: give the workspace \
                     dependency `version = \"{version}\"`",
                    krate.name
                ));
            }
            entry.insert(target.name.as_str());
        }
    }
    // Depth-first topological order.
    let mut order = Vec::new();
    let mut done = BTreeSet::new();
    fn visit<'a>(
        name: &'a str,
        deps: &BTreeMap<&'a str, BTreeSet<&'a str>>,
        done: &mut BTreeSet<&'a str>,
        order: &mut Vec<String>,
        depth: usize,
    ) {
        if done.contains(name) || depth > deps.len() {
            return;
        }
        for dep in deps.get(name).into_iter().flatten() {
            visit(dep, deps, done, order, depth + 1);
        }
        if done.insert(name) {
            order.push(name.to_owned());
        }
    }
    for name in deps.keys() {
        visit(name, &deps, &mut done, &mut order, 0);
    }
    order
}

fn check_metadata(krate: &Crate, problems: &mut Vec<String>) {
    let name = &krate.name;
    for field in ["description", "license", "repository"] {
        if krate.meta[field].as_str().is_none_or(str::is_empty) {
            problems.push(format!("{name} has no `{field}` in its Cargo.toml"));
        }
    }
    match krate.meta["readme"].as_str() {
        Some(readme) => {
            let path = krate
                .manifest
                .parent()
                .unwrap_or(Path::new("."))
                .join(readme);
            if !path.is_file() {
                problems.push(format!("{name}'s readme {} does not exist", path.display()));
            }
        }
        None => problems.push(format!("{name} has no `readme`")),
    }
    let keywords = krate.meta["keywords"].as_array().map_or(0, Vec::len);
    if keywords > 5 {
        problems.push(format!("{name} has {keywords} keywords; crates.io takes 5"));
    }
    for keyword in krate.meta["keywords"].as_array().into_iter().flatten() {
        let keyword = keyword.as_str().unwrap_or_default();
        if keyword.len() > 20 {
            problems.push(format!(
                "{name}'s keyword `{keyword}` is over 20 characters"
            ));
        }
    }
    let categories = krate.meta["categories"].as_array().map_or(0, Vec::len);
    if categories > 5 {
        problems.push(format!(
            "{name} has {categories} categories; crates.io takes 5"
        ));
    }
}

fn check_changelog(version: &str, problems: &mut Vec<String>) {
    let path = project_root().join("CHANGELOG.md");
    let Ok(text) = std::fs::read_to_string(&path) else {
        problems.push("CHANGELOG.md is missing".into());
        return;
    };
    let heading = format!("## [{version}]");
    if !text.lines().any(|l| l.starts_with(&heading)) {
        problems.push(format!(
            "CHANGELOG.md has no `{heading} - DATE` section: move what [Unreleased] lists there"
        ));
    }
    let link = format!("[{version}]: ");
    if !text.lines().any(|l| l.starts_with(&link)) {
        problems.push(format!(
            "CHANGELOG.md has no `{link}...` link at the bottom"
        ));
    }
}

/// Relative links must reach files (and headings) that exist; badges must name this
/// repository, its workflow and its crates.
fn check_links(crates: &[Crate], problems: &mut Vec<String>) {
    let root = project_root();
    let mut files = vec![root.join("README.md")];
    if let Ok(entries) = std::fs::read_dir(root.join("docs")) {
        files.extend(
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "md")),
        );
    }
    files.extend(
        crates
            .iter()
            .filter(|c| c.publish)
            .map(|c| c.manifest.with_file_name("README.md")),
    );
    let repository = crates
        .iter()
        .find_map(|c| c.meta["repository"].as_str())
        .unwrap_or_default()
        .trim_end_matches('/')
        .to_owned();
    let names: BTreeSet<&str> = crates.iter().map(|c| c.name.as_str()).collect();

    for file in &files {
        let Ok(text) = std::fs::read_to_string(file) else {
            problems.push(format!("{} is missing", file.display()));
            continue;
        };
        let shown = file
            .strip_prefix(&root)
            .unwrap_or(file)
            .display()
            .to_string();
        for target in links(&text) {
            if target.starts_with("http://") || target.starts_with("https://") {
                check_badge_url(&target, &repository, &names, &shown, problems);
                continue;
            }
            if target.starts_with("mailto:") {
                continue;
            }
            let (path, anchor) = target.split_once('#').unwrap_or((&target, ""));
            let resolved = if path.is_empty() {
                file.clone()
            } else {
                file.parent().unwrap_or(&root).join(path)
            };
            if !resolved.exists() {
                problems.push(format!("{shown} links to `{target}`, which does not exist"));
                continue;
            }
            if !anchor.is_empty() && resolved.extension().is_some_and(|e| e == "md") {
                let headings = std::fs::read_to_string(&resolved).unwrap_or_default();
                if !slugs(&headings).contains(anchor) {
                    problems.push(format!(
                        "{shown} links to `{target}`, but that file has no such heading"
                    ));
                }
            }
        }
    }
}

/// Badge and project URLs: GitHub links must be this repository's, workflow badges must
/// name a workflow file that exists, crates.io and docs.rs links must name our crates.
fn check_badge_url(
    url: &str,
    repository: &str,
    names: &BTreeSet<&str>,
    file: &str,
    problems: &mut Vec<String>,
) {
    if let Some(rest) = url.strip_prefix("https://github.com/podnet/") {
        if !url.starts_with(repository) {
            problems.push(format!("{file}: `{url}` is not under {repository}"));
        }
        if let Some(workflow) = rest.split("/workflows/").nth(1) {
            let name = workflow.split('/').next().unwrap_or_default();
            if !project_root()
                .join(".github/workflows")
                .join(name)
                .is_file()
            {
                problems.push(format!(
                    "{file}: badge names workflow {name}, which does not exist"
                ));
            }
        }
    }
    for prefix in [
        "https://crates.io/crates/",
        "https://docs.rs/",
        "https://img.shields.io/crates/v/",
        "https://img.shields.io/crates/l/",
    ] {
        if let Some(rest) = url.strip_prefix(prefix) {
            let name = rest.split(['/', '.']).next().unwrap_or_default();
            if !names.contains(name) {
                problems.push(format!(
                    "{file}: `{url}` names a crate that is not ours: {name}"
                ));
            }
        }
    }
}

/// The targets of Markdown links `[text](target)` outside code blocks.
fn links(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut in_code = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        let mut rest = line;
        while let Some(start) = rest.find("](") {
            rest = &rest[start + 2..];
            let Some(end) = rest.find(')') else { break };
            let target = rest[..end].trim();
            if !target.is_empty() && !target.contains(' ') {
                found.push(target.to_owned());
            }
            rest = &rest[end..];
        }
    }
    found
}

/// GitHub's anchors for a file's headings: lower case, punctuation dropped, spaces to
/// hyphens.
fn slugs(text: &str) -> BTreeSet<String> {
    let mut in_code = false;
    text.lines()
        .filter(|line| {
            if line.trim_start().starts_with("```") {
                in_code = !in_code;
                return false;
            }
            !in_code && line.starts_with('#')
        })
        .map(|line| {
            line.trim_start_matches('#')
                .trim()
                .to_lowercase()
                .chars()
                .filter_map(|c| match c {
                    ' ' => Some('-'),
                    c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
                    _ => None,
                })
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_and_slugs_are_read_as_github_does() {
        let text = "See [a](docs/a.md#the-rules) and [b](https://x.y/z).\n```\n[no](skip)\n```\n";
        assert_eq!(links(text), ["docs/a.md#the-rules", "https://x.y/z"]);
        let headings = "# The rules\n## 4. The bench protocol\n```\n# not a heading\n```\n";
        let slugs = slugs(headings);
        assert!(slugs.contains("the-rules"));
        assert!(slugs.contains("4-the-bench-protocol"));
        assert!(!slugs.contains("not-a-heading"));
    }
}
