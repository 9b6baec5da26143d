//! The fault-injecting proxy.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};

/// How a cut happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// Both sides are reset.
    Both,
    /// The client's side is reset; the server's side goes silent and stays open, so the
    /// server learns of the drop only when the client comes back (or from its heartbeat).
    ClientSide,
    /// The server's side is reset; the client's side goes silent and stays open, so the
    /// client learns of it from its heartbeat.
    ServerSide,
}

impl std::str::FromStr for Cut {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "both" => Ok(Cut::Both),
            "client" => Ok(Cut::ClientSide),
            "server" => Ok(Cut::ServerSide),
            other => Err(format!("unknown cut {other:?}: say both, client or server")),
        }
    }
}

/// A small deterministic random source (xorshift64).
#[derive(Debug, Clone)]
pub struct Rng(pub u64);

impl Rng {
    /// A number in `0..n` (`0` when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// A running proxy on `127.0.0.1`, on a thread of its own; it stops (resetting whatever
/// is open through it) when dropped.
#[derive(Debug)]
pub struct Proxy {
    addr: SocketAddr,
    cuts: watch::Sender<(u64, Cut)>,
    accepted: Arc<AtomicU64>,
    target: Arc<Mutex<SocketAddr>>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Proxy {
    /// A proxy to `target` on a free loopback port, its chunk sizes drawn from `seed`.
    pub fn start(target: SocketAddr, seed: u64) -> io::Result<Proxy> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (cuts, _) = watch::channel((0, Cut::Both));
        let accepted = Arc::new(AtomicU64::new(0));
        let target = Arc::new(Mutex::new(target));
        let (stop, stopped) = oneshot::channel();
        let thread = std::thread::Builder::new()
            .name("cut-proxy".into())
            .spawn({
                let cuts = cuts.clone();
                let accepted = accepted.clone();
                let target = target.clone();
                move || runtime.block_on(serve(listener, target, seed, cuts, accepted, stopped))
            })?;
        Ok(Proxy {
            addr,
            cuts,
            accepted,
            target,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// How many connections the proxy has accepted so far.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }

    /// Sends the connections made from now on to `target` (another server, say one
    /// started in place of the first); those open stay where they are.
    pub fn retarget(&self, target: SocketAddr) {
        *self.target.lock().unwrap_or_else(|e| e.into_inner()) = target;
    }

    /// Cuts every connection through the proxy now, as `how` says. Connections made
    /// afterwards go through until the next cut.
    pub fn cut(&self, how: Cut) {
        self.cuts.send_modify(|(n, mode)| {
            *n += 1;
            *mode = how;
        });
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn serve(
    listener: std::net::TcpListener,
    target: Arc<Mutex<SocketAddr>>,
    seed: u64,
    cuts: watch::Sender<(u64, Cut)>,
    accepted: Arc<AtomicU64>,
    mut stopped: oneshot::Receiver<()>,
) {
    let Ok(listener) = TcpListener::from_std(listener) else {
        return;
    };
    let limbo = Arc::new(Mutex::new(Vec::new()));
    let mut n = 0u64;
    loop {
        let client = tokio::select! {
            _ = &mut stopped => return,
            accept = listener.accept() => match accept {
                Ok((client, _)) => client,
                Err(_) => continue,
            },
        };
        n += 1;
        accepted.fetch_add(1, Ordering::Relaxed);
        let to = *target.lock().unwrap_or_else(|e| e.into_inner());
        let Ok(server) = TcpStream::connect(to).await else {
            reset(client);
            continue;
        };
        let _ = client.set_nodelay(true);
        let _ = server.set_nodelay(true);
        let rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ n | 1);
        tokio::spawn(pump(client, server, cuts.subscribe(), limbo.clone(), rng));
    }
}

fn reset(stream: TcpStream) {
    let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
    drop(stream);
}

fn park(limbo: &Mutex<Vec<TcpStream>>, stream: TcpStream) {
    if let Ok(mut limbo) = limbo.lock() {
        limbo.push(stream);
    }
}

/// Forwards both ways in random chunks until a cut or an end.
async fn pump(
    mut client: TcpStream,
    mut server: TcpStream,
    mut cuts: watch::Receiver<(u64, Cut)>,
    limbo: Arc<Mutex<Vec<TcpStream>>>,
    mut rng: Rng,
) {
    cuts.borrow_and_update();
    let mut up = vec![0u8; 4096];
    let mut down = vec![0u8; 4096];
    loop {
        let up_chunk = 1 + rng.below(4096) as usize;
        let down_chunk = 1 + rng.below(4096) as usize;
        tokio::select! {
            biased;
            changed = cuts.changed() => {
                if changed.is_err() {
                    return;
                }
                let how = cuts.borrow_and_update().1;
                match how {
                    Cut::Both => {
                        reset(client);
                        reset(server);
                    }
                    Cut::ClientSide => {
                        reset(client);
                        park(&limbo, server);
                    }
                    Cut::ServerSide => {
                        reset(server);
                        park(&limbo, client);
                    }
                }
                return;
            }
            read = client.read(&mut up[..up_chunk]) => match read {
                Ok(n) if n > 0 => {
                    if server.write_all(&up[..n]).await.is_err() {
                        return reset(client);
                    }
                }
                _ => {
                    let _ = server.shutdown().await;
                    return;
                }
            },
            read = server.read(&mut down[..down_chunk]) => match read {
                Ok(n) if n > 0 => {
                    if client.write_all(&down[..n]).await.is_err() {
                        return reset(server);
                    }
                }
                _ => {
                    let _ = client.shutdown().await;
                    return;
                }
            },
        }
    }
}
