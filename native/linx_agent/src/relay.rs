//! Byte relays between the BEAM and the workload's PTY master or pipes.
//!
//! Input (`{:pty_in, _}` / `{:stdin, _}`) is queued here and written whenever the
//! non-blocking descriptor takes more; every byte consumed (written, or dropped because
//! the reader is gone) is acknowledged to the BEAM with `{:input_ack, n}`, which keeps a
//! bounded window in flight. So a write of any size arrives whole, in order, and the
//! control channel is never stuck behind a workload that reads slowly.

use linx_sys::fdio;
use std::collections::VecDeque;
use std::os::fd::BorrowedFd;

/// How much one read takes from an output descriptor (one `{:pty_out, _}` frame at most).
pub const CHUNK: usize = 64 * 1024;

#[derive(Default)]
pub struct Input {
    queue: VecDeque<u8>,
    /// `:stdin_close` arrived: close the pipe once the queue is empty.
    pub close_after: bool,
}

/// What [`Input::flush`] did.
#[derive(Debug, PartialEq, Eq)]
pub struct Flushed {
    /// Bytes taken off the queue (written or dropped).
    pub consumed: u64,
    /// The reader is gone (EPIPE, or EIO on a PTY whose slave is closed); the queue was
    /// dropped and the descriptor should be closed.
    pub broken: bool,
}

impl Input {
    pub fn push(&mut self, bytes: &[u8]) {
        self.queue.extend(bytes);
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Drops everything queued; returns how many bytes that was.
    pub fn discard(&mut self) -> u64 {
        let n = self.queue.len() as u64;
        self.queue.clear();
        n
    }

    /// Writes until the queue is empty or the descriptor would block.
    pub fn flush(&mut self, fd: BorrowedFd<'_>) -> Flushed {
        let mut consumed = 0u64;
        while !self.queue.is_empty() {
            let (front, _) = self.queue.as_slices();
            match fdio::write(fd, front) {
                Ok(n) => {
                    self.queue.drain(..n);
                    consumed += n as u64;
                }
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => {}
                Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => break,
                Err(_) => {
                    consumed += self.discard();
                    return Flushed {
                        consumed,
                        broken: true,
                    };
                }
            }
        }
        Flushed {
            consumed,
            broken: false,
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum Read {
    Data(Vec<u8>),
    /// Nothing available now (EAGAIN).
    Again,
    /// End of file, or EIO from a PTY master whose slave side is fully closed.
    Closed,
}

/// One read of at most [`CHUNK`] bytes from a non-blocking output descriptor.
pub fn read_chunk(fd: BorrowedFd<'_>) -> Read {
    let mut buf = vec![0u8; CHUNK];
    loop {
        match fdio::read(fd, &mut buf) {
            Ok(0) => return Read::Closed,
            Ok(n) => {
                buf.truncate(n);
                return Read::Data(buf);
            }
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => {}
            Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => return Read::Again,
            Err(_) => return Read::Closed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn input_fills_a_pipe_then_resumes_and_keeps_order() {
        let (r, w) = fdio::pipe_cloexec().unwrap();
        fdio::set_nonblocking(w.as_fd(), true).unwrap();
        fdio::set_nonblocking(r.as_fd(), true).unwrap();
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let mut input = Input::default();
        input.push(&data);

        let mut received = Vec::new();
        let mut acked = 0;
        while acked < data.len() as u64 {
            let f = input.flush(w.as_fd());
            assert!(!f.broken);
            acked += f.consumed;
            // A full pipe stops the flush with data still queued; drain and go on.
            while let Read::Data(chunk) = read_chunk(r.as_fd()) {
                received.extend(chunk);
            }
        }
        assert!(input.is_empty());
        assert_eq!(received, data);
    }

    #[test]
    fn a_vanished_reader_drops_and_acknowledges_the_queue() {
        let (r, w) = fdio::pipe_cloexec().unwrap();
        fdio::set_nonblocking(w.as_fd(), true).unwrap();
        drop(r);
        let mut input = Input::default();
        input.push(b"hello");
        assert_eq!(
            input.flush(w.as_fd()),
            Flushed {
                consumed: 5,
                broken: true
            }
        );
        assert!(input.is_empty());
    }

    #[test]
    fn reads_report_again_and_closed() {
        let (r, w) = fdio::pipe_cloexec().unwrap();
        fdio::set_nonblocking(r.as_fd(), true).unwrap();
        assert_eq!(read_chunk(r.as_fd()), Read::Again);
        fdio::write_all(w.as_fd(), b"x").unwrap();
        assert_eq!(read_chunk(r.as_fd()), Read::Data(b"x".to_vec()));
        drop(w);
        assert_eq!(read_chunk(r.as_fd()), Read::Closed);
    }
}
