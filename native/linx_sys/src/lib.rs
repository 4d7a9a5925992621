//! Shared ground for the Linx native crates.
//!
//! * [`sys`] is the only module allowed to call into libc unsafely; every other module
//!   (and every crate built on this one) goes through its typed wrappers.
//! * [`netns`] runs a closure on a throwaway thread inside another namespace, so no
//!   BEAM scheduler thread ever changes namespace.
//! * [`tun`] creates persistent tun/tap devices through `/dev/net/tun`.
//! * [`errno`] maps errno numbers to the atom names the Elixir side uses (generated).
//! * [`SysError`] is the one error type: the failing stage plus the errno.
//! * [`fdio`], [`process`] and [`pty`] are the process agent's syscalls (pipes and poll;
//!   clone3, pidfds, prctl, capset, seccomp, execve; pseudo-terminals). They return
//!   `std::io::Error`, whose raw errno the agent reports with its own stage names.
//! * [`termios`] is terminal attributes and identity for the `linx_tty` NIF.
#![deny(unsafe_code)]

pub mod errno;
pub mod fdio;
pub mod netns;
pub mod process;
pub mod pty;
pub mod sys;
pub mod termios;
pub mod tun;

use std::fmt;

/// A failed syscall: which stage of an operation failed, and the kernel's errno.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{stage}: {}", ErrnoDisplay(*errno))]
pub struct SysError {
    /// The stage, named as the Elixir side sees it (`"open"`, `"setns"`, `"socket"`, ...).
    pub stage: &'static str,
    /// The positive errno value.
    pub errno: i32,
}

impl SysError {
    pub fn new(stage: &'static str, errno: i32) -> Self {
        Self { stage, errno }
    }

    /// The errno as the lower-case atom name (`"enoent"`), or `"unknown"`.
    pub fn errno_name(&self) -> &'static str {
        errno::name(self.errno).unwrap_or("unknown")
    }
}

struct ErrnoDisplay(i32);

impl fmt::Display for ErrnoDisplay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match errno::name(self.0) {
            Some(name) => write!(f, "{} ({})", name, self.0),
            None => write!(f, "errno {}", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_table_round_trips() {
        for code in 1..=133 {
            if let Some(name) = errno::name(code) {
                assert_eq!(errno::code(name), Some(code), "{name}");
            }
        }
        assert_eq!(errno::name(libc::ENOENT), Some("enoent"));
        assert_eq!(errno::name(libc::EOPNOTSUPP), Some("eopnotsupp"));
        assert_eq!(errno::name(libc::EAGAIN), Some("eagain"));
        assert_eq!(errno::name(100_000), None);
    }

    #[test]
    fn error_displays_stage_and_errno() {
        let err = SysError::new("setns", libc::EPERM);
        assert_eq!(err.to_string(), "setns: eperm (1)");
        assert_eq!(err.errno_name(), "eperm");
    }
}
