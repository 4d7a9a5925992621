//! The code the cloned child runs between `clone3` and `execve`.
//!
//! Before the checkpoint (nothing here waits for the BEAM):
//!  1. `PR_SET_PDEATHSIG(SIGKILL)`: the child dies with the agent, from here on;
//!  2. close the agent's descriptors (control channel, the agent's pipe ends, PTY master),
//!     and enter the network namespace the agent made ahead, if it stands in for
//!     `CLONE_NEWNET`;
//!  3. stdio: `dup2` onto 0/1/2 (for a PTY first `setsid` + `TIOCSCTTY`); every other
//!     descriptor is marked close-on-exec;
//!  4. `no_new_privs` if the request asked for it;
//!  5. report `Ready(getpid())`: the pid as the child's own pid namespace sees it;
//!  6. default signal dispositions and an empty mask (the agent ignores SIGPIPE), while
//!     the BEAM handles `Ready`.
//!
//! At the checkpoint the child applies commands in the order they arrive (bounding-set
//! drops, `capset`, ambient set: at once, so a failure surfaces while the owner is still
//! deciding; seccomp programs are checked and kept), until `Proceed`. After it: `chdir`,
//! no_new_privs if a filter needs it, the seccomp filters (last, so a filter only has to
//! allow `execve` itself), `execve`.
//!
//! Any failure is one `Failed(errno, stage)` record, then `_exit(127)`. The child never
//! returns into the agent's code, even on a panic.

use crate::checkpoint::{self, exit_code, FromChild, ToChild};
use crate::clone::Failure;
use crate::protocol::Stage;
use linx_sys::fdio;
use linx_sys::process::{self, CStringArray};
use linx_sys::pty;
use std::convert::Infallible;
use std::ffi::{CString, OsStr};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::panic::AssertUnwindSafe;

/// Everything the child needs, prepared by the agent before the clone.
pub struct ChildPlan {
    pub path: CString,
    pub argv: CStringArray,
    pub envp: CStringArray,
    pub cwd: Option<CString>,
    /// What to `dup2` onto 0, 1, 2 (`None` = inherit).
    pub stdio: [Option<OwnedFd>; 3],
    /// PTY mode: the slave, for all three.
    pub pty_slave: Option<OwnedFd>,
    pub c2p: OwnedFd,
    pub p2c: OwnedFd,
    pub no_new_privs: bool,
    /// A network namespace made ahead by the agent, entered first (instead of
    /// `CLONE_NEWNET`, see `clone::SpareNetns`).
    pub netns: Option<OwnedFd>,
    pub agent_pid: u32,
    /// The signals the agent ignores: the child resets these (see `reset_signal_handling`).
    pub ignored_signals: u64,
}

/// Runs the child to `execve` (or `_exit`). `agent_ends` are the agent's descriptors,
/// closed first.
pub fn run<const N: usize>(plan: ChildPlan, agent_ends: [Option<OwnedFd>; N]) -> ! {
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| body(&plan, agent_ends)));
    match outcome {
        Ok(Ok(never)) => match never {},
        Ok(Err(failure)) => {
            let _ = FromChild::Failed(failure.errno, failure.stage).send(plan.c2p.as_fd());
            process::exit_now(exit_code::FAILED)
        }
        Err(_) => process::exit_now(exit_code::PANIC),
    }
}

fn body<const N: usize>(
    plan: &ChildPlan,
    agent_ends: [Option<OwnedFd>; N],
) -> Result<Infallible, Failure> {
    process::set_parent_death_signal(libc::SIGKILL)
        .map_err(|e| Failure::new(Stage::AgentInit, e))?;
    // The agent may have died before the line above: then our parent is someone else and
    // no death signal will ever come. (In a new pid namespace the parent is outside it and
    // reads as 0; there the checkpoint pipe's end of file covers the same case.)
    let ppid = std::os::unix::process::parent_id();
    if ppid != 0 && ppid != plan.agent_pid {
        process::exit_now(exit_code::ABORTED);
    }
    drop(agent_ends);

    if let Some(netns) = &plan.netns {
        // Reported as the clone's failure: this stands in for its CLONE_NEWNET.
        linx_sys::sys::setns(netns.as_fd(), libc::CLONE_NEWNET)
            .map_err(|e| Failure::errno(Stage::Clone, e.errno))?;
    }
    wire_stdio(plan)?;
    if plan.no_new_privs {
        process::set_no_new_privs().map_err(|e| Failure::new(Stage::SeccompNoNewPrivs, e))?;
    }

    if FromChild::Ready(std::process::id() as i32)
        .send(plan.c2p.as_fd())
        .is_err()
    {
        process::exit_now(exit_code::READY_WRITE);
    }
    // Done after `Ready`, while the BEAM handles it; nothing at the checkpoint depends on it.
    process::reset_signal_handling(plan.ignored_signals)
        .map_err(|e| Failure::new(Stage::Sigprocmask, e))?;

    let filters = park(plan)?;

    if let Some(cwd) = &plan.cwd {
        std::env::set_current_dir(OsStr::from_bytes(cwd.as_bytes()))
            .map_err(|e| Failure::new(Stage::Chdir, e))?;
    }
    if !filters.is_empty() {
        // seccomp(2) demands no_new_privs from a caller without CAP_SYS_ADMIN; set it
        // rather than fail, as 0.2 did.
        let nnp = process::no_new_privs().map_err(|e| Failure::new(Stage::SeccompNoNewPrivs, e))?;
        if !nnp {
            process::set_no_new_privs().map_err(|e| Failure::new(Stage::SeccompNoNewPrivs, e))?;
        }
        for program in &filters {
            process::seccomp_set_mode_filter(program)
                .map_err(|e| Failure::new(Stage::SeccompInstall, e))?;
        }
    }
    Err(Failure::new(
        Stage::Execve,
        process::execve(&plan.path, &plan.argv, &plan.envp),
    ))
}

fn wire_stdio(plan: &ChildPlan) -> Result<(), Failure> {
    let stdio = |e| Failure::new(Stage::Stdio, e);
    if let Some(slave) = &plan.pty_slave {
        process::setsid().map_err(stdio)?;
        pty::set_controlling(slave.as_fd()).map_err(stdio)?;
        for target in 0..3 {
            fdio::dup2(slave.as_fd(), target).map_err(stdio)?;
        }
    } else {
        for (target, source) in plan.stdio.iter().enumerate() {
            if let Some(fd) = source {
                fdio::dup2(fd.as_fd(), target as i32).map_err(stdio)?;
            }
        }
    }
    // The workload gets 0, 1, 2 and nothing else; the checkpoint pipes close at exec too.
    fdio::cloexec_from(3).map_err(stdio)
}

/// The checkpoint: applies commands until `Proceed`; returns the seccomp programs to
/// install last. End of file = abort.
fn park(plan: &ChildPlan) -> Result<Vec<Vec<u8>>, Failure> {
    let mut filters = Vec::new();
    loop {
        let cmd = match checkpoint::read_command(plan.p2c.as_fd()) {
            Ok(cmd) => cmd,
            Err(checkpoint::ReadError::Eof) => process::exit_now(exit_code::ABORTED),
            Err(checkpoint::ReadError::Protocol) => process::exit_now(exit_code::PROTOCOL),
        };
        match cmd {
            ToChild::Proceed => return Ok(filters),
            ToChild::DropBounding(mask) => {
                for cap in bits(mask) {
                    process::capbset_drop(cap)
                        .map_err(|e| Failure::new(Stage::CapDropBounding, e))?;
                }
            }
            ToChild::SetThread(e, p, i) => {
                process::capset(e, p, i).map_err(|e| Failure::new(Stage::CapSetThread, e))?;
            }
            ToChild::SetAmbient(mask) => {
                let fail = |e| Failure::new(Stage::CapSetAmbient, e);
                process::ambient_clear_all().map_err(fail)?;
                for cap in bits(mask) {
                    process::ambient_raise(cap).map_err(fail)?;
                }
            }
            ToChild::Seccomp(program) => {
                process::seccomp_instructions(&program)
                    .map_err(|e| Failure::new(Stage::SeccompInstall, e))?;
                filters.push(program);
            }
        }
    }
}

/// The set bits of a capability mask, lowest first.
pub fn bits(mask: u64) -> impl Iterator<Item = u32> {
    (0..64).filter(move |b| mask & (1u64 << b) != 0)
}

#[cfg(test)]
mod tests {
    use super::bits;

    #[test]
    fn mask_bits() {
        assert_eq!(bits(0).count(), 0);
        assert_eq!(bits(0b1010).collect::<Vec<_>>(), vec![1, 3]);
        assert_eq!(bits(1 << 63).collect::<Vec<_>>(), vec![63]);
        assert_eq!(bits(u64::MAX).count(), 64);
    }
}
