//! The lean baseline: the least a server for the bench protocol can do on this stack, as
//! the limit podnet is measured against (`cargo xtask bench`, the "lean" column).
//!
//! One thread and one mio event loop (tokio's own I/O layer, without the runtime): no
//! locks, no channels, no tasks, no allocation per message. It reads every socket into
//! one large buffer, cuts the frames in place, reads only the action (the first map
//! entry), and appends replies straight into each peer's outbound buffer, which is
//! written once per turn of the loop. Only a frame cut by the end of a read is copied out
//! (into its peer's small pending buffer) to wait for the rest.
//!
//! It checks nothing else of a message, keeps no queue bounds and no heartbeats: it is a
//! yardstick, not a server to run. With `--check` it checks every payload as podnet does
//! before a handler sees it (`podnet_framing::check_message`: a map, complete, within the
//! depth limit, nothing trailing, one UTF-8 action), and handles only what passes: the
//! same guarantee on one thread, the "lean+check" column.
//!
//! Usage: `lean_server --port P [--check]` (0 picks a free port); prints
//! `lean server on 127.0.0.1:PORT`.

use std::io::{ErrorKind, Read, Write};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use podnet_bench::first_action;
use podnet_framing::{FramingConfig, check_message};

/// The listener's token; peers are their slot in the table.
const LISTENER: Token = Token(usize::MAX);
/// The longest frame accepted (as the other servers: 1 MiB).
const MAX_FRAME: usize = 1024 * 1024;
/// The shared read buffer: a whole frame of the longest length, and room to read more.
const READ_BUFFER: usize = 4 * MAX_FRAME;

struct Peer {
    stream: TcpStream,
    /// The start of a frame the last read cut; usually empty.
    pending: Vec<u8>,
    /// Replies and relays, not written yet.
    out: Vec<u8>,
    /// Whether it waits for WRITABLE (its socket's buffer was full).
    blocked: bool,
    /// Whether it is in the dirty list.
    dirty: bool,
}

struct Lean {
    poll: Poll,
    listener: TcpListener,
    peers: Vec<Option<Peer>>,
    free: Vec<usize>,
    /// Peers with something to write this turn.
    dirty: Vec<usize>,
    moves: u64,
    connected: Vec<u8>,
    /// With `--check`: the limits every payload is checked against.
    check: Option<FramingConfig>,
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let port = args
        .iter()
        .position(|a| a == "--port")
        .and_then(|i| args.get(i + 1))
        .map_or("0", String::as_str);
    let addr = format!("127.0.0.1:{port}")
        .parse()
        .map_err(|e| std::io::Error::new(ErrorKind::InvalidInput, format!("{e}")))?;
    let mut listener = TcpListener::bind(addr)?;
    println!("lean server on {}", listener.local_addr()?);
    let poll = Poll::new()?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    let mut connected = Vec::new();
    write_frame(&mut connected, |w| {
        rmp::encode::write_map_len(w, 1)?;
        rmp::encode::write_str(w, "action")?;
        rmp::encode::write_str(w, "connected")
    });
    let mut lean = Lean {
        poll,
        listener,
        peers: Vec::new(),
        free: Vec::new(),
        dirty: Vec::new(),
        moves: 0,
        connected,
        check: args
            .iter()
            .any(|a| a == "--check")
            .then(FramingConfig::default),
    };
    let mut buf = vec![0u8; READ_BUFFER];
    let mut events = Events::with_capacity(1024);
    loop {
        if let Err(err) = lean.poll.poll(&mut events, None) {
            if err.kind() == ErrorKind::Interrupted {
                continue;
            }
            return Err(err);
        }
        for event in &events {
            if event.token() == LISTENER {
                lean.accept()?;
                continue;
            }
            let slot = event.token().0;
            if event.is_readable() && !lean.read(slot, &mut buf) {
                lean.close(slot);
                continue;
            }
            if event.is_writable() {
                lean.mark(slot);
            }
        }
        lean.flush();
    }
}

/// Appends one frame: a 4-byte length, then what `body` writes.
fn write_frame(
    out: &mut Vec<u8>,
    body: impl FnOnce(&mut Vec<u8>) -> Result<(), rmp::encode::ValueWriteError>,
) {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    // Writing into a Vec cannot fail.
    let _ = body(out);
    let len = u32::try_from(out.len() - start - 4).unwrap_or(u32::MAX);
    out[start..start + 4].copy_from_slice(&len.to_be_bytes());
}

impl Lean {
    fn accept(&mut self) -> std::io::Result<()> {
        loop {
            let (mut stream, _) = match self.listener.accept() {
                Ok(accepted) => accepted,
                Err(err) if err.kind() == ErrorKind::WouldBlock => return Ok(()),
                Err(err) if err.kind() == ErrorKind::Interrupted => continue,
                // Out of descriptors and the like: try again at the next event.
                Err(_) => return Ok(()),
            };
            let _ = stream.set_nodelay(true);
            let slot = self.free.pop().unwrap_or(self.peers.len());
            self.poll
                .registry()
                .register(&mut stream, Token(slot), Interest::READABLE)?;
            let peer = Peer {
                stream,
                pending: Vec::new(),
                out: self.connected.clone(),
                blocked: false,
                dirty: false,
            };
            if slot == self.peers.len() {
                self.peers.push(Some(peer));
            } else {
                self.peers[slot] = Some(peer);
            }
            self.mark(slot);
        }
    }

    fn mark(&mut self, slot: usize) {
        if let Some(Some(peer)) = self.peers.get_mut(slot) {
            if !peer.dirty {
                peer.dirty = true;
                self.dirty.push(slot);
            }
        }
    }

    /// Reads everything `slot` has (edge-triggered: until it would block), handling each
    /// whole frame in place. False if the peer is gone or broke the framing.
    fn read(&mut self, slot: usize, buf: &mut [u8]) -> bool {
        let mut filled = match self.peers.get_mut(slot) {
            Some(Some(peer)) => {
                let len = peer.pending.len();
                buf[..len].copy_from_slice(&peer.pending);
                peer.pending.clear();
                len
            }
            _ => return true,
        };
        loop {
            let read = match self.peers.get_mut(slot) {
                Some(Some(peer)) => peer.stream.read(&mut buf[filled..]),
                _ => return true,
            };
            match read {
                Ok(0) => return false,
                Ok(n) => filled += n,
                Err(err) if err.kind() == ErrorKind::WouldBlock => break,
                Err(err) if err.kind() == ErrorKind::Interrupted => continue,
                Err(_) => return false,
            }
            let Some(used) = self.frames(slot, &buf[..filled]) else {
                return false;
            };
            buf.copy_within(used..filled, 0);
            filled -= used;
        }
        if let Some(Some(peer)) = self.peers.get_mut(slot) {
            peer.pending.extend_from_slice(&buf[..filled]);
        }
        true
    }

    /// Handles the whole frames at the start of `data`; returns how many bytes they took,
    /// or `None` for a frame over the limit.
    fn frames(&mut self, slot: usize, data: &[u8]) -> Option<usize> {
        let mut at = 0;
        while let Some(header) = data.get(at..at + 4) {
            let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
            if len > MAX_FRAME {
                return None;
            }
            let Some(frame) = data.get(at..at + 4 + len) else {
                break;
            };
            self.handle(slot, frame);
            at += 4 + len;
        }
        Some(at)
    }

    fn handle(&mut self, slot: usize, frame: &[u8]) {
        let action = match &self.check {
            Some(config) => check_message(&frame[4..], config).ok(),
            None => first_action(&frame[4..]),
        };
        match action {
            Some(b"ping") => {
                if let Some(Some(peer)) = self.peers.get_mut(slot) {
                    peer.out.extend_from_slice(frame);
                }
                self.mark(slot);
            }
            Some(b"move") => self.moves += 1,
            Some(b"report") => {
                let moves = self.moves;
                if let Some(Some(peer)) = self.peers.get_mut(slot) {
                    write_frame(&mut peer.out, |w| {
                        rmp::encode::write_map_len(w, 2)?;
                        rmp::encode::write_str(w, "action")?;
                        rmp::encode::write_str(w, "report")?;
                        rmp::encode::write_str(w, "moves")?;
                        rmp::encode::write_uint(w, moves).map(|_| ())
                    });
                }
                self.mark(slot);
            }
            Some(b"broadcast") => {
                for (to, peer) in self.peers.iter_mut().enumerate() {
                    if let Some(peer) = peer {
                        peer.out.extend_from_slice(frame);
                        if !peer.dirty {
                            peer.dirty = true;
                            self.dirty.push(to);
                        }
                    }
                }
            }
            _ => {}
        }
    }

    /// Writes what each dirty peer has; a peer whose socket is full waits for WRITABLE.
    fn flush(&mut self) {
        let dirty = std::mem::take(&mut self.dirty);
        for &slot in &dirty {
            let Some(Some(peer)) = self.peers.get_mut(slot) else {
                continue;
            };
            peer.dirty = false;
            let mut written = 0;
            let mut failed = false;
            while written < peer.out.len() {
                match peer.stream.write(&peer.out[written..]) {
                    Ok(0) => {
                        failed = true;
                        break;
                    }
                    Ok(n) => written += n,
                    Err(err) if err.kind() == ErrorKind::WouldBlock => break,
                    Err(err) if err.kind() == ErrorKind::Interrupted => {}
                    Err(_) => {
                        failed = true;
                        break;
                    }
                }
            }
            if failed {
                self.close(slot);
                continue;
            }
            peer.out.drain(..written);
            let blocked = !peer.out.is_empty();
            if blocked != peer.blocked {
                peer.blocked = blocked;
                let interest = if blocked {
                    Interest::READABLE | Interest::WRITABLE
                } else {
                    Interest::READABLE
                };
                let _ = self
                    .poll
                    .registry()
                    .reregister(&mut peer.stream, Token(slot), interest);
            }
        }
        // The list's allocation is kept for the next turn.
        let mut dirty = dirty;
        dirty.clear();
        if self.dirty.is_empty() {
            self.dirty = dirty;
        }
    }

    fn close(&mut self, slot: usize) {
        if let Some(mut peer) = self.peers.get_mut(slot).and_then(Option::take) {
            let _ = self.poll.registry().deregister(&mut peer.stream);
            self.free.push(slot);
        }
    }
}
