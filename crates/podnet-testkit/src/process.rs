//! A program started for a test or a demo (a server, a cluster node), killed when
//! dropped, whose first line says where it listens.

use std::io::{self, BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// A running program, killed (and waited for) when dropped: a `kill -9` is dropping it.
#[derive(Debug)]
pub struct Process(Child);

impl Process {
    /// Starts `command` with its stdout piped, reads its first line, and returns the
    /// process and the line's last word (`"node a on 127.0.0.1:4000"` gives the
    /// address). What it prints after that is not read.
    ///
    /// # Errors
    ///
    /// If it cannot be started, or ends before it prints a line.
    pub fn start_listening(command: &mut Command) -> io::Result<(Process, String)> {
        let mut child = command.stdout(Stdio::piped()).spawn()?;
        let stdout = child.stdout.take();
        let process = Process(child);
        let mut line = String::new();
        if let Some(stdout) = stdout {
            BufReader::new(stdout).read_line(&mut line)?;
        }
        let addr = line.split_whitespace().last().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the program ended before it said where it listens",
            )
        })?;
        Ok((process, addr.to_owned()))
    }
}

impl Process {
    /// Its process id (to read `/proc/ID`, or to signal it).
    pub fn id(&self) -> u32 {
        self.0.id()
    }

    /// Whether it has ended (without waiting).
    pub fn has_ended(&mut self) -> bool {
        !matches!(self.0.try_wait(), Ok(None))
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
