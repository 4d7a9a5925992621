//! `linx_agent`: the checkpoint agent behind one `Linx.Process` session.
//!
//! The BEAM starts one agent per session as a Port (`{:packet, 4}`, `:nouse_stdio`):
//! commands arrive on fd 3, events leave on fd 4 (ETF terms), and fds 0/1/2 are left for
//! the workload. The agent is the only place that forks: the BEAM is multi-threaded and
//! must never clone, fork or setns itself. The agent stays single-threaded so that its
//! fork-like `clone3` is safe.
//!
//! Cleanup guarantees (each has an ExUnit test in `test/linx/process/`):
//!  * The workload dies with the agent: the child sets `PR_SET_PDEATHSIG(SIGKILL)` right
//!    after the clone (and checks its parent is still the agent, closing the race).
//!  * The agent dies with the BEAM: end of file on fd 3 (the port closed, the owning
//!    process died, or the VM died) makes it kill the workload (SIGKILL, or SIGTERM and a
//!    grace period for a running workload when `orphan_policy` asks for one), reap it and
//!    exit. `PR_SET_PDEATHSIG(SIGKILL)` on the agent itself is the backstop for the death
//!    of its parent (the BEAM's `erl_child_setup`).
//!  * The agent reaps its child through a pidfd (`waitid(P_PIDFD)`): no zombie is left,
//!    and no signal can reach a recycled pid.
//!  * Exactly one terminal event is sent, after the reap and after the output is drained;
//!    every failure reaches the BEAM as `{:error, errno, stage}` with a stage the Elixir
//!    side knows (`linx_agent --list-stages` prints them).
//!
//! Modules: [`protocol`] (request, commands, events, stages), [`etf`], [`channel`] (fd 3/4
//! framing), [`clone`] (stdio, setns, clone3), [`child`] (the checkpoint and execve),
//! [`checkpoint`] (the agent ↔ child pipe protocol), [`relay`] (PTY/pipe bytes),
//! [`session`] (the supervision loop and the reap).
#![forbid(unsafe_code)]

mod channel;
mod checkpoint;
mod child;
mod clone;
mod etf;
mod protocol;
mod relay;
mod session;

use channel::{Channel, RequestError};
use linx_sys::{fdio, process};
use protocol::{Event, Stage};

/// The agent's exit status (the BEAM sees it as the port's `exit_status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// The session ended and its terminal event was sent.
    Ok = 0,
    /// The control channel closed or failed; nothing could be reported.
    Channel = 1,
    /// A malformed request or command (reported first).
    Protocol = 2,
    /// The workload could not be created: clone3, or a setns for enter (reported first).
    Create = 3,
    /// An internal failure of the agent (reported first).
    Internal = 4,
}

fn main() {
    let mut args = std::env::args_os().skip(1);
    match (args.next(), args.next()) {
        (None, _) => std::process::exit(agent(false) as i32),
        (Some(flag), None) if flag == "--prepare-net" => std::process::exit(agent(true) as i32),
        (Some(flag), None) if flag == "--list-stages" => {
            for stage in Stage::ALL {
                println!("{}", stage.name());
            }
        }
        _ => {
            eprintln!(
                "linx_agent is started by Linx.Process as a Port (control on fd 3/4).\n\
                 usage: linx_agent [--prepare-net | --list-stages]"
            );
            std::process::exit(64);
        }
    }
}

/// `prepare_net`: the agent was started ahead of any request and makes a network
/// namespace while it waits (see [`clone::SpareNetns`]).
fn agent(prepare_net: bool) -> ExitCode {
    let mut chan = match Channel::adopt() {
        Ok(chan) => chan,
        Err(_) => return ExitCode::Channel,
    };
    let fail = |chan: &mut Channel, errno: i32, stage: Stage, code: ExitCode| {
        if chan.send(&Event::Error(errno, stage)).is_ok() {
            chan.await_close(channel::LINGER_AFTER_LAST_EVENT);
        }
        code
    };
    let errno = |e: std::io::Error| e.raw_os_error().unwrap_or(libc::EIO);

    // Die with our parent, and make sure fds 0-2 exist so no pipe lands on them.
    if let Err(e) =
        process::set_parent_death_signal(libc::SIGKILL).and_then(|_| fdio::ensure_stdio_open())
    {
        return fail(&mut chan, errno(e), Stage::AgentInit, ExitCode::Internal);
    }
    // Taken now, while /proc is still the host's (enter may setns into another mount ns).
    let proof = match process::SingleThreaded::check() {
        Ok(proof) => proof,
        Err(e) => return fail(&mut chan, errno(e), Stage::AgentInit, ExitCode::Internal),
    };

    // Read before the request arrives (an agent started ahead is idle now), so the child
    // resets only these instead of querying or resetting all 64 on the spawn's path.
    let ignored_signals = process::ignored_signals();
    let spare_net = if prepare_net {
        match clone::SpareNetns::create() {
            Ok(spare) => spare,
            Err(e) => return fail(&mut chan, errno(e), Stage::AgentInit, ExitCode::Internal),
        }
    } else {
        None
    };

    let request = match chan.read_request() {
        Ok(term) => protocol::parse_request(&term),
        Err(RequestError::Gone) => return ExitCode::Channel,
        Err(RequestError::TooBig) => {
            return fail(
                &mut chan,
                libc::EMSGSIZE,
                Stage::RequestTooBig,
                ExitCode::Protocol,
            )
        }
        Err(RequestError::Undecodable) => {
            return fail(
                &mut chan,
                libc::EINVAL,
                Stage::MalformedRequest,
                ExitCode::Protocol,
            )
        }
    };
    let request = match request {
        Ok(request) => request,
        Err(_) => {
            return fail(
                &mut chan,
                libc::EINVAL,
                Stage::MalformedRequest,
                ExitCode::Protocol,
            )
        }
    };

    let channel_fds = [channel::BEAM_TO_AGENT, channel::AGENT_TO_BEAM];
    match clone::launch(&request, &proof, &channel_fds, ignored_signals, spare_net) {
        Ok(launched) => session::Session::new(chan, launched, request.orphan_grace_ms).run(),
        Err(f) => {
            let code = match f.stage {
                Stage::Clone | Stage::Fork => ExitCode::Create,
                s if s.name().starts_with("setns_") || s.name().starts_with("open_ns_") => {
                    ExitCode::Create
                }
                _ => ExitCode::Internal,
            };
            fail(&mut chan, f.errno, f.stage, code)
        }
    }
}
