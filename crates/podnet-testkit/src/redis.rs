//! A real `redis-server` for tests: on a free loopback port, persistence off, stopped when
//! dropped.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a server may take to answer its first PING.
const READY_WITHIN: Duration = Duration::from_secs(10);

/// A running `redis-server` (Debian's `redis-server` package, or Valkey's under that
/// name), found on `PATH` or named by `REDIS_SERVER`.
#[derive(Debug)]
pub struct RedisServer {
    child: Child,
    addr: SocketAddr,
    program: PathBuf,
}

/// The server program: `REDIS_SERVER`, else `redis-server` on `PATH`.
pub fn redis_server_program() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("REDIS_SERVER") {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("redis-server"))
        .find(|candidate| candidate.is_file())
}

impl RedisServer {
    /// Starts a server on a free loopback port, with no persistence, and waits until it
    /// answers PING.
    pub fn start() -> io::Result<RedisServer> {
        let program = redis_server_program().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                "no redis-server on PATH (set REDIS_SERVER, or run `cargo xtask cluster`, which \
                 installs it)",
            )
        })?;
        let mut last = None;
        // The free port is found by binding, then freed for the server: another process may
        // take it in between, so a few tries.
        for _ in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")?
                .local_addr()?
                .port();
            let mut server = RedisServer {
                child: spawn(&program, port)?,
                addr: SocketAddr::from(([127, 0, 0, 1], port)),
                program: program.clone(),
            };
            match server.wait_ready() {
                Ok(()) => return Ok(server),
                Err(err) => {
                    let _ = server.child.kill();
                    last = Some(err);
                }
            }
        }
        Err(last.unwrap_or_else(|| io::Error::other("redis-server did not start")))
    }

    /// Stops the server (SIGKILL): everything in it is gone, as after a crash.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts it again on the same port, empty, and waits until it answers.
    pub fn start_again(&mut self) -> io::Result<()> {
        self.stop();
        self.child = spawn(&self.program, self.addr.port())?;
        self.wait_ready()
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its URL, `redis://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("redis://{}/", self.addr)
    }

    /// Polls with PING until the server answers, or it exits, or the time is up.
    fn wait_ready(&mut self) -> io::Result<()> {
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Err(io::Error::other(format!("redis-server exited: {status}")));
            }
            if ping(self.addr).is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "redis-server did not answer PING in time",
                ));
            }
            // A process starting up has no event to wait on; this bounds the poll.
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

fn spawn(program: &PathBuf, port: u16) -> io::Result<Child> {
    Command::new(program)
        .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
        .args([
            "--save",
            "",
            "--appendonly",
            "no",
            "--protected-mode",
            "yes",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
}

/// One PING, answered with +PONG.
fn ping(addr: SocketAddr) -> io::Result<()> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(200))?;
    stream.set_read_timeout(Some(Duration::from_millis(500)))?;
    stream.write_all(b"PING\r\n")?;
    let mut answer = [0u8; 7];
    stream.read_exact(&mut answer)?;
    if &answer == b"+PONG\r\n" {
        Ok(())
    } else {
        Err(io::Error::other("not a PONG"))
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
