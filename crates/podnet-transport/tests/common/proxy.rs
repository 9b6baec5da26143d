//! A fault-injecting TCP proxy on loopback: it forwards bytes both ways in chunks of random
//! sizes (so frames are split across writes) and, when told, cuts every connection through
//! it at whatever point the bytes are: mid-frame included.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// How a cut happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cut {
    /// Both sides are reset.
    Both,
    /// The client's side is reset; the server's side goes silent and stays open, so the
    /// server learns of the drop only when the client comes back.
    ClientSide,
    /// The server's side is reset; the client's side goes silent and stays open, so the
    /// client learns of it from its heartbeat.
    ServerSide,
}

pub(crate) struct Proxy {
    pub(crate) addr: SocketAddr,
    cuts: watch::Sender<(u64, Cut)>,
    /// Sockets left open and silent by a cut, held until the proxy goes.
    limbo: Arc<Mutex<Vec<TcpStream>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// A small deterministic random source (xorshift).
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

fn reset(stream: TcpStream) {
    let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
    drop(stream);
}

impl Proxy {
    /// A proxy to `target`, its chunk sizes drawn from `seed`.
    pub(crate) async fn start(target: SocketAddr, seed: u64) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (cuts, _) = watch::channel((0, Cut::Both));
        let limbo = Arc::new(Mutex::new(Vec::new()));
        let accept = tokio::spawn({
            let cuts = cuts.clone();
            let limbo = limbo.clone();
            async move {
                let mut n = 0u64;
                while let Ok((client, _)) = listener.accept().await {
                    n += 1;
                    let Ok(server) = TcpStream::connect(target).await else {
                        reset(client);
                        continue;
                    };
                    let _ = client.set_nodelay(true);
                    let _ = server.set_nodelay(true);
                    let rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ n | 1);
                    tokio::spawn(pump(client, server, cuts.subscribe(), limbo.clone(), rng));
                }
            }
        });
        Proxy {
            addr,
            cuts,
            limbo,
            accept,
        }
    }

    /// Cuts every connection through the proxy now, as `how` says.
    pub(crate) fn cut(&self, how: Cut) {
        self.cuts.send_modify(|(n, mode)| {
            *n += 1;
            *mode = how;
        });
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
        let up_chunk = 1 + usize::try_from(rng.below(4096)).unwrap();
        let down_chunk = 1 + usize::try_from(rng.below(4096)).unwrap();
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
                        limbo.lock().unwrap().push(server);
                    }
                    Cut::ServerSide => {
                        reset(server);
                        limbo.lock().unwrap().push(client);
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
