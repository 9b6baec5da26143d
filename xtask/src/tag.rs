//! `cargo xtask tag`: repod's tag game on podnet, seen through its graphical client. It
//! starts `tag_server` (fixed obstacles), three `tag_client --bot` players, and the
//! macroquad window of `tag_client --autopilot` under Xvfb with software GL (Debian's
//! `xvfb` and Mesa, installed when missing), which saves a screenshot once the game has
//! been in view for a while: target/tag.png, and with `--update-docs` docs/images/tag.png.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::system::{apt_install, find_program};
use crate::util::{build_examples, built, project_root, target_dir};

/// How long any one step may take before the run fails; it does not measure speed.
const STEP: Duration = Duration::from_secs(60);

/// The smallest screenshot that can hold the arena, its obstacles and players: a window
/// drawn with nothing in it compresses to a few KiB.
const MIN_PNG_BYTES: u64 = 8 * 1024;

/// Kills a helper process when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn ensure_xvfb() -> Result<PathBuf, String> {
    if let Some(xvfb) = find_program("Xvfb") {
        return Ok(xvfb);
    }
    // Xvfb, and Mesa's software GL for the window to draw with.
    apt_install(&["xvfb", "libgl1-mesa-dri", "libgl1"])?;
    find_program("Xvfb").ok_or_else(|| "Xvfb is still missing after installing it".into())
}

/// The first line `child` prints on stdout, within [`STEP`]; what it prints after that is
/// read and dropped (a closed pipe would fail its next print).
fn first_line(child: &mut Child, what: &str) -> Result<String, String> {
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines().map_while(Result::ok);
        let _ = tx.send(lines.next().unwrap_or_default());
        lines.for_each(drop);
    });
    rx.recv_timeout(STEP)
        .map(|line| line.trim().to_owned())
        .map_err(|_| format!("{what} said nothing within {STEP:?}"))
}

fn example(name: &str) -> PathBuf {
    built("debug/examples", name)
}

/// Runs the game and takes the screenshot; returns its path.
pub(crate) fn screenshot() -> Result<PathBuf, String> {
    let xvfb = ensure_xvfb()?;
    build_examples("podnet", &[], &["tag_server", "tag_client"])?;
    let mut server = Running(
        Command::new(example("tag_server"))
            .args(["127.0.0.1", "0", "--seed", "4"])
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("starting tag_server: {e}"))?,
    );
    let banner = first_line(&mut server.0, "tag_server")?;
    let port = banner
        .rsplit(':')
        .next()
        .filter(|p| p.parse::<u16>().is_ok())
        .ok_or_else(|| format!("tag_server's first line names no port: {banner:?}"))?
        .to_owned();
    let _bots: Vec<Running> = (0..3)
        .map(|_| {
            Command::new(example("tag_client"))
                .args(["127.0.0.1", &port, "--bot", "--seconds", "60"])
                .stdout(Stdio::null())
                .spawn()
                .map(Running)
                .map_err(|e| format!("starting a tag bot: {e}"))
        })
        .collect::<Result<_, _>>()?;
    // Xvfb picks a free display and writes its number once it is ready.
    let mut display = Running(
        Command::new(xvfb)
            .args([
                "-displayfd",
                "1",
                "-screen",
                "0",
                "1024x768x24",
                "-nolisten",
                "tcp",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("starting Xvfb: {e}"))?,
    );
    let number = first_line(&mut display.0, "Xvfb")?;
    let png = target_dir().join("tag.png");
    let _ = std::fs::remove_file(&png);
    let mut window = Running(
        Command::new(example("tag_client"))
            .args(["127.0.0.1", &port, "--autopilot", "--frames", "150"])
            .arg("--screenshot")
            .arg(&png)
            .env("DISPLAY", format!(":{number}"))
            .env("LIBGL_ALWAYS_SOFTWARE", "1")
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("starting tag_client's window: {e}"))?,
    );
    let said = first_line(&mut window.0, "tag_client's window")?;
    if !said.starts_with("screenshot saved") {
        return Err(format!(
            "tag_client's window said {said:?}, not that it saved a screenshot"
        ));
    }
    let size = std::fs::metadata(&png)
        .map_err(|e| format!("{}: {e}", png.display()))?
        .len();
    if size < MIN_PNG_BYTES {
        return Err(format!(
            "{} is {size} bytes: too small to hold the game (at least {MIN_PNG_BYTES})",
            png.display()
        ));
    }
    println!(
        "tag: the window drew the game: {} ({size} bytes)",
        png.display()
    );
    Ok(png)
}

fn update_docs(png: &Path) -> Result<(), String> {
    let docs = project_root().join("docs/images/tag.png");
    std::fs::copy(png, &docs).map_err(|e| format!("copying to {}: {e}", docs.display()))?;
    println!("tag: updated {}", docs.display());
    Ok(())
}

/// `cargo xtask tag [--update-docs]`.
pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let update = match args {
        [] => false,
        [flag] if flag == "--update-docs" => true,
        _ => {
            return Err(format!(
                "`cargo xtask tag` takes only --update-docs (got {args:?})"
            ));
        }
    };
    let png = screenshot()?;
    if update {
        update_docs(&png)?;
    }
    Ok(())
}
