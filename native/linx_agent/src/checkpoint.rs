//! The private protocol between the agent and its cloned child over two pipes, while the
//! child is parked at the checkpoint. Both ends are this same binary, so the format is
//! ours: no ETF, no allocation on the child's read path beyond the seccomp program.
//!
//! * agent → child (`p2c`): `[u32 LE length][u8 tag][payload]` commands; end of file
//!   means "abort": the child `_exit`s without running anything.
//! * child → agent (`c2p`, close-on-exec): fixed 9-byte records `[u8 tag][i32 LE][i32 LE]`;
//!   `Ready(pid)` once at the checkpoint, `Failed(errno, stage)` before the child exits.
//!   End of file after `Proceed` with no `Failed` record means execve succeeded.

use crate::protocol::Stage;
use linx_sys::fdio;
use std::io;
use std::os::fd::BorrowedFd;

/// The largest command frame: a seccomp program of 65535 instructions is 512 KiB.
pub const MAX_CHILD_FRAME: usize = 1 << 20;

const TAG_PROCEED: u8 = 1;
const TAG_DROP_BOUNDING: u8 = 2;
const TAG_SET_THREAD: u8 = 3;
const TAG_SET_AMBIENT: u8 = 4;
const TAG_SECCOMP: u8 = 5;

const TAG_READY: u8 = 1;
const TAG_FAILED: u8 = 2;

/// Exit codes of a child that never reached execve without reporting a failure.
pub mod exit_code {
    /// `Ready` could not be written (the agent is gone).
    pub const READY_WRITE: i32 = 101;
    /// `p2c` closed at the checkpoint: aborted.
    pub const ABORTED: i32 = 102;
    /// `p2c` carried something that is not a command.
    pub const PROTOCOL: i32 = 103;
    /// A panic in the child's own code (a bug; never expected).
    pub const PANIC: i32 = 104;
    /// A failure was reported on `c2p`, then the child exited.
    pub const FAILED: i32 = 127;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToChild {
    Proceed,
    DropBounding(u64),
    SetThread(u64, u64, u64),
    SetAmbient(u64),
    Seccomp(Vec<u8>),
}

impl ToChild {
    pub fn encode(&self) -> Vec<u8> {
        let mut payload = Vec::new();
        match self {
            ToChild::Proceed => payload.push(TAG_PROCEED),
            ToChild::DropBounding(m) => {
                payload.push(TAG_DROP_BOUNDING);
                payload.extend(m.to_le_bytes());
            }
            ToChild::SetThread(e, p, i) => {
                payload.push(TAG_SET_THREAD);
                for m in [e, p, i] {
                    payload.extend(m.to_le_bytes());
                }
            }
            ToChild::SetAmbient(m) => {
                payload.push(TAG_SET_AMBIENT);
                payload.extend(m.to_le_bytes());
            }
            ToChild::Seccomp(prog) => {
                payload.push(TAG_SECCOMP);
                payload.extend(prog);
            }
        }
        let mut frame = (payload.len() as u32).to_le_bytes().to_vec();
        frame.extend(payload);
        frame
    }

    fn decode(payload: &[u8]) -> Option<ToChild> {
        let (&tag, rest) = payload.split_first()?;
        let u64_at = |i: usize| -> Option<u64> {
            let b: [u8; 8] = rest.get(i * 8..i * 8 + 8)?.try_into().ok()?;
            Some(u64::from_le_bytes(b))
        };
        match (tag, rest.len()) {
            (TAG_PROCEED, 0) => Some(ToChild::Proceed),
            (TAG_DROP_BOUNDING, 8) => Some(ToChild::DropBounding(u64_at(0)?)),
            (TAG_SET_THREAD, 24) => Some(ToChild::SetThread(u64_at(0)?, u64_at(1)?, u64_at(2)?)),
            (TAG_SET_AMBIENT, 8) => Some(ToChild::SetAmbient(u64_at(0)?)),
            (TAG_SECCOMP, _) => Some(ToChild::Seccomp(rest.to_vec())),
            _ => None,
        }
    }
}

/// Why the child's command read failed.
#[derive(Debug)]
pub enum ReadError {
    /// End of file at a frame boundary: the agent aborted us (or died).
    Eof,
    /// Anything else: a truncated or invalid frame, or an I/O error.
    Protocol,
}

/// Blocking read of one command (in the child).
pub fn read_command(fd: BorrowedFd<'_>) -> Result<ToChild, ReadError> {
    let mut len = [0u8; 4];
    match fdio::read_exact_or_eof(fd, &mut len) {
        Ok(true) => {}
        Ok(false) => return Err(ReadError::Eof),
        Err(_) => return Err(ReadError::Protocol),
    }
    let len = u32::from_le_bytes(len) as usize;
    if len == 0 || len > MAX_CHILD_FRAME {
        return Err(ReadError::Protocol);
    }
    let mut payload = vec![0u8; len];
    match fdio::read_exact_or_eof(fd, &mut payload) {
        Ok(true) => ToChild::decode(&payload).ok_or(ReadError::Protocol),
        _ => Err(ReadError::Protocol),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FromChild {
    Ready(i32),
    Failed(i32, Stage),
}

pub const RECORD: usize = 9;

impl FromChild {
    pub fn encode(self) -> [u8; RECORD] {
        let (tag, a, b) = match self {
            FromChild::Ready(pid) => (TAG_READY, pid, 0),
            FromChild::Failed(errno, stage) => (TAG_FAILED, errno, stage.code() as i32),
        };
        let mut rec = [0u8; RECORD];
        rec[0] = tag;
        rec[1..5].copy_from_slice(&a.to_le_bytes());
        rec[5..9].copy_from_slice(&b.to_le_bytes());
        rec
    }

    pub fn decode(rec: &[u8]) -> Option<FromChild> {
        let rec: &[u8; RECORD] = rec.try_into().ok()?;
        let a = i32::from_le_bytes(rec[1..5].try_into().ok()?);
        let b = i32::from_le_bytes(rec[5..9].try_into().ok()?);
        match rec[0] {
            TAG_READY if a > 0 && b == 0 => Some(FromChild::Ready(a)),
            TAG_FAILED if a > 0 => {
                let stage = Stage::from_code(u16::try_from(b).ok()?)?;
                Some(FromChild::Failed(a, stage))
            }
            _ => None,
        }
    }

    /// Writes the record (in the child). One `write` of 9 bytes to a pipe is atomic.
    pub fn send(self, fd: BorrowedFd<'_>) -> io::Result<()> {
        fdio::write_all(fd, &self.encode())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn commands_round_trip_through_a_pipe() {
        let (r, w) = fdio::pipe_cloexec().unwrap();
        let cmds = vec![
            ToChild::DropBounding(1 << 21),
            ToChild::SetThread(1, 3, 0),
            ToChild::SetAmbient(u64::MAX),
            ToChild::Seccomp(vec![7; 16]),
            ToChild::Proceed,
        ];
        for c in &cmds {
            fdio::write_all(w.as_fd(), &c.encode()).unwrap();
        }
        drop(w);
        for c in &cmds {
            assert_eq!(&read_command(r.as_fd()).unwrap(), c);
        }
        assert!(matches!(read_command(r.as_fd()), Err(ReadError::Eof)));
    }

    #[test]
    fn truncated_or_unknown_commands_are_protocol_errors() {
        for bytes in [
            vec![5, 0, 0, 0, TAG_PROCEED],    // short payload
            vec![1, 0, 0, 0, 99],             // unknown tag
            vec![2, 0, 0, 0, TAG_PROCEED, 0], // proceed with a payload
            vec![0, 0, 0, 0],                 // empty frame
            vec![255, 255, 255, 255],         // larger than any command
            vec![9, 0, 0, 0, TAG_DROP_BOUNDING, 1, 2, 3, 4, 5, 6, 7], // truncated mask
            vec![1, 0],                       // truncated length
        ] {
            let (r, w) = fdio::pipe_cloexec().unwrap();
            fdio::write_all(w.as_fd(), &bytes).unwrap();
            drop(w);
            assert!(
                matches!(read_command(r.as_fd()), Err(ReadError::Protocol)),
                "{bytes:?}"
            );
        }
    }

    #[test]
    fn child_records_round_trip_and_reject_garbage() {
        for msg in [
            FromChild::Ready(1),
            FromChild::Ready(123_456),
            FromChild::Failed(2, Stage::Execve),
            FromChild::Failed(1, Stage::CapSetAmbient),
        ] {
            assert_eq!(FromChild::decode(&msg.encode()), Some(msg));
        }
        assert_eq!(
            FromChild::decode(&[TAG_READY, 0, 0, 0, 0, 0, 0, 0, 0]),
            None
        );
        assert_eq!(
            FromChild::decode(&[TAG_FAILED, 2, 0, 0, 0, 255, 255, 0, 0]),
            None
        );
        assert_eq!(FromChild::decode(&[9, 1, 0, 0, 0, 0, 0, 0, 0]), None);
        assert_eq!(FromChild::decode(&[TAG_READY, 1]), None);
    }
}
