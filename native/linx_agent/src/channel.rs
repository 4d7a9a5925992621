//! The control channel to the BEAM: fd 3 (read) and fd 4 (write), `{:packet, 4}` frames
//! (a 4-byte big-endian length, then an ETF term), as `Port.open/2` with `:nouse_stdio`
//! and `{:packet, 4}` sets them up.

use crate::etf::{self, Term};
use crate::protocol::Event;
use linx_sys::fdio;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

/// The BEAM writes to this descriptor of the port program.
pub const BEAM_TO_AGENT: RawFd = 3;
/// The port program writes to this one.
pub const AGENT_TO_BEAM: RawFd = 4;

/// The request (argv, environment, paths) may be this large: a typical execve limit.
pub const REQUEST_LIMIT: usize = 4 << 20;
/// A command may be this large: a 65535-instruction seccomp program is 512 KiB; input
/// chunks are far smaller (the session keeps at most 128 KiB in flight).
pub const COMMAND_LIMIT: usize = 1 << 20;

/// Why the first frame could not be used.
#[derive(Debug)]
pub enum RequestError {
    /// The BEAM closed the channel or it failed: nothing can be reported.
    Gone,
    /// Longer than [`REQUEST_LIMIT`].
    TooBig,
    /// Not an ETF term we accept.
    Undecodable,
}

/// How long the agent waits for the BEAM to close the port after its last event.
pub const LINGER_AFTER_LAST_EVENT: Duration = Duration::from_secs(5);

/// A command frame longer than [`COMMAND_LIMIT`].
#[derive(Debug, PartialEq, Eq)]
pub struct TooBig;

pub struct Channel {
    rx: OwnedFd,
    tx: OwnedFd,
    pending: Vec<u8>,
}

impl Channel {
    /// Takes over fds 3 and 4 (and marks them close-on-exec, so no workload inherits them).
    pub fn adopt() -> io::Result<Channel> {
        Ok(Channel {
            rx: fdio::adopt_inherited(BEAM_TO_AGENT)?,
            tx: fdio::adopt_inherited(AGENT_TO_BEAM)?,
            pending: Vec::new(),
        })
    }

    /// A channel over any pair of descriptors (tests).
    #[cfg(test)]
    pub fn from_fds(rx: OwnedFd, tx: OwnedFd) -> Channel {
        Channel {
            rx,
            tx,
            pending: Vec::new(),
        }
    }

    pub fn rx_raw(&self) -> RawFd {
        self.rx.as_raw_fd()
    }

    /// Blocking read of the first frame.
    pub fn read_request(&mut self) -> Result<Term, RequestError> {
        let mut header = [0u8; 4];
        match fdio::read_exact_or_eof(self.rx.as_fd(), &mut header) {
            Ok(true) => {}
            _ => return Err(RequestError::Gone),
        }
        let len = u32::from_be_bytes(header) as usize;
        if len > REQUEST_LIMIT {
            // Read and drop the rest first: leaving it unread would make the BEAM's
            // write fail (EPIPE) once we exit, and the port would die before it delivered
            // our answer.
            let mut sink = vec![0u8; 64 * 1024];
            let mut left = len;
            while left > 0 {
                let want = left.min(sink.len());
                match fdio::read_exact_or_eof(self.rx.as_fd(), &mut sink[..want]) {
                    Ok(true) => left -= want,
                    _ => return Err(RequestError::Gone),
                }
            }
            return Err(RequestError::TooBig);
        }
        let mut body = vec![0u8; len];
        match fdio::read_exact_or_eof(self.rx.as_fd(), &mut body) {
            Ok(true) => etf::decode(&body).map_err(|_| RequestError::Undecodable),
            Ok(false) if len == 0 => Err(RequestError::Undecodable),
            _ => Err(RequestError::Gone),
        }
    }

    /// One `read` into the pending buffer (call when poll says fd 3 is readable).
    /// `Ok(false)` is end of file: the BEAM closed the port or died.
    pub fn fill(&mut self) -> io::Result<bool> {
        let mut chunk = [0u8; 64 * 1024];
        loop {
            match fdio::read(self.rx.as_fd(), &mut chunk) {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    self.pending.extend_from_slice(&chunk[..n]);
                    return Ok(true);
                }
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// The next complete frame's payload, if one is buffered.
    pub fn next_frame(&mut self) -> Result<Option<Vec<u8>>, TooBig> {
        let Some(header) = self.pending.get(..4) else {
            return Ok(None);
        };
        let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
        if len > COMMAND_LIMIT {
            return Err(TooBig);
        }
        if self.pending.len() < 4 + len {
            return Ok(None);
        }
        let payload = self.pending[4..4 + len].to_vec();
        self.pending.drain(..4 + len);
        Ok(Some(payload))
    }

    /// After the last event: waits, at most `limit`, for the BEAM to close the port,
    /// dropping anything it still sends. Exiting at once could race with commands the
    /// BEAM has queued for us: writing them to a dead agent fails with EPIPE, and the
    /// port would die before delivering the event it has not read yet.
    pub fn await_close(&mut self, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            let mut fds = [libc::pollfd {
                fd: self.rx.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            }];
            // Round up: poll's millisecond timeout must not end before the deadline.
            let ms = left.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
            match fdio::poll(&mut fds, ms) {
                Ok(0) => {}
                Ok(_) => match self.fill() {
                    Ok(true) => self.pending.clear(),
                    _ => return,
                },
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => {}
                Err(_) => return,
            }
        }
    }

    /// Writes one event frame (blocking: the BEAM's port driver always reads).
    pub fn send(&self, event: &Event) -> io::Result<()> {
        self.send_all(std::slice::from_ref(event))
    }

    /// Writes several event frames with one `write`, so the BEAM takes them in with one
    /// wake-up.
    pub fn send_all(&self, events: &[Event]) -> io::Result<()> {
        let mut frames = Vec::new();
        for event in events {
            let body = etf::encode(&event.to_term());
            frames.extend((body.len() as u32).to_be_bytes());
            frames.extend(body);
        }
        fdio::write_all(self.tx.as_fd(), &frames)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::etf::{atom, encode, int, tuple};
    use crate::protocol::Stage;

    fn pair() -> (Channel, OwnedFd, OwnedFd) {
        let (rx, beam_tx) = fdio::pipe_cloexec().unwrap();
        let (beam_rx, tx) = fdio::pipe_cloexec().unwrap();
        (Channel::from_fds(rx, tx), beam_tx, beam_rx)
    }

    fn frame(payload: &[u8]) -> Vec<u8> {
        let mut f = (payload.len() as u32).to_be_bytes().to_vec();
        f.extend(payload);
        f
    }

    #[test]
    fn request_then_commands_split_across_reads() {
        let (mut ch, beam_tx, _beam_rx) = pair();
        let req = encode(&tuple(vec![atom("spawn"), Term::Map(vec![])]));
        fdio::write_all(beam_tx.as_fd(), &frame(&req)).unwrap();
        assert_eq!(
            ch.read_request().unwrap(),
            tuple(vec![atom("spawn"), Term::Map(vec![])])
        );

        let cmd = frame(&encode(&atom("proceed")));
        fdio::write_all(beam_tx.as_fd(), &cmd[..3]).unwrap();
        assert!(ch.fill().unwrap());
        assert_eq!(ch.next_frame(), Ok(None));
        let mut rest = cmd[3..].to_vec();
        rest.extend(frame(&encode(&tuple(vec![atom("signal"), int(9)]))));
        fdio::write_all(beam_tx.as_fd(), &rest).unwrap();
        assert!(ch.fill().unwrap());
        assert_eq!(ch.next_frame().unwrap().unwrap(), encode(&atom("proceed")));
        assert!(ch.next_frame().unwrap().is_some());
        assert_eq!(ch.next_frame(), Ok(None));
        drop(beam_tx);
        assert!(!ch.fill().unwrap());
    }

    #[test]
    fn oversized_frames_are_refused_before_buffering() {
        // The BEAM announcing more than the limit and then vanishing: nothing to answer.
        let (mut ch, beam_tx, _beam_rx) = pair();
        fdio::write_all(beam_tx.as_fd(), &((REQUEST_LIMIT as u32 + 1).to_be_bytes())).unwrap();
        drop(beam_tx);
        assert!(matches!(ch.read_request(), Err(RequestError::Gone)));

        let (mut ch, beam_tx, _beam_rx) = pair();
        fdio::write_all(beam_tx.as_fd(), &((COMMAND_LIMIT as u32 + 1).to_be_bytes())).unwrap();
        ch.fill().unwrap();
        assert_eq!(ch.next_frame(), Err(TooBig));
    }

    #[test]
    fn garbage_and_eof_requests() {
        let (mut ch, beam_tx, _beam_rx) = pair();
        fdio::write_all(beam_tx.as_fd(), &frame(b"not etf")).unwrap();
        assert!(matches!(ch.read_request(), Err(RequestError::Undecodable)));

        let (mut ch, beam_tx, _beam_rx) = pair();
        fdio::write_all(beam_tx.as_fd(), &[0, 0, 0, 10, 131]).unwrap();
        drop(beam_tx);
        assert!(matches!(ch.read_request(), Err(RequestError::Gone)));
    }

    #[test]
    fn await_close_returns_at_end_of_file_or_after_the_limit() {
        let (mut ch, beam_tx, _beam_rx) = pair();
        fdio::write_all(beam_tx.as_fd(), b"late command bytes").unwrap();
        drop(beam_tx);
        let t = Instant::now();
        ch.await_close(Duration::from_secs(5));
        assert!(t.elapsed() < Duration::from_secs(1));

        let (mut ch, _beam_tx, _beam_rx) = pair();
        let t = Instant::now();
        ch.await_close(Duration::from_millis(50));
        assert!(t.elapsed() >= Duration::from_millis(50));
    }

    #[test]
    fn an_oversized_request_is_drained_before_it_is_refused() {
        let (mut ch, beam_tx, _beam_rx) = pair();
        let len = REQUEST_LIMIT + 10;
        let writer = std::thread::spawn(move || {
            let mut bytes = (len as u32).to_be_bytes().to_vec();
            bytes.extend(vec![0u8; len]);
            // Succeeds only because the agent side reads it all.
            fdio::write_all(beam_tx.as_fd(), &bytes)
        });
        assert!(matches!(ch.read_request(), Err(RequestError::TooBig)));
        writer.join().unwrap().unwrap();
    }

    #[test]
    fn events_are_framed_etf() {
        let (ch, _beam_tx, beam_rx) = pair();
        ch.send(&Event::Error(22, Stage::MalformedRequest)).unwrap();
        let mut header = [0u8; 4];
        assert!(fdio::read_exact_or_eof(beam_rx.as_fd(), &mut header).unwrap());
        let mut body = vec![0u8; u32::from_be_bytes(header) as usize];
        assert!(fdio::read_exact_or_eof(beam_rx.as_fd(), &mut body).unwrap());
        assert_eq!(
            etf::decode(&body).unwrap(),
            tuple(vec![atom("error"), int(22), atom("malformed_request")])
        );
    }
}
