//! The agent's supervision loop for one workload, from `clone3` to its reaping.
//!
//! One `poll` over the checkpoint pipe, the BEAM's fd 3, the child's pidfd, the PTY
//! master and the stdio pipes. Phases: `Spawned` (waiting for the child's `Ready`) →
//! `Parked` (the checkpoint: commands are relayed to the child) → `Proceeding` (waiting
//! for exec: end of file on the close-on-exec pipe) → `Running` → reaped; or `Aborting`.
//!
//! The terminal event is sent only after the child is reaped and its output drained, so
//! the BEAM never sees a terminal event for a process that still exists, and exactly one
//! is sent. A failure anywhere (the child's own report, a bad command, a broken pipe)
//! becomes that terminal event as `{:error, errno, stage}`.

use crate::channel::{Channel, LINGER_AFTER_LAST_EVENT};
use crate::checkpoint::{FromChild, ToChild, RECORD};
use crate::clone::Launched;
use crate::etf;
use crate::protocol::{self, Command, Event, Stage};
use crate::relay::{self, Input, Read};
use crate::ExitCode;
use linx_sys::fdio;
use linx_sys::process::{self, ExitStatus};
use linx_sys::pty;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

/// How long the agent holds `Spawned` back waiting for the child's `Ready` (see `run`).
const SPAWNED_WAIT_MS: i32 = 20;

/// How long the agent holds `Running` back after the exec, so that a workload that ends
/// within it (a short command: `/bin/true` lives ~0.5 ms) has `Running` and its terminal
/// event reach the BEAM in one write. Every event sent wakes BEAM schedulers, on the CPUs
/// the workload is starting on; one write instead of two made such a spawn ~0.1-0.2 ms
/// shorter here. A long-lived workload sees `Running` this much later, nothing else.
const RUNNING_HOLD: Duration = Duration::from_millis(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Spawned,
    Parked,
    Proceeding,
    Running,
    Aborting,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    C2p,
    Beam,
    Pty,
    Stdout,
    Stderr,
    Stdin,
    Child,
}

pub struct Session {
    chan: Channel,
    pid: i32,
    pidfd: OwnedFd,
    child_pid: i32,
    c2p: Option<OwnedFd>,
    c2p_buf: Vec<u8>,
    p2c: Option<OwnedFd>,
    pty: Option<OwnedFd>,
    /// The master reads EIO: no slave is open any more (the workload closed its
    /// terminal, typically right before exiting). The master is kept open regardless:
    /// closing it would hang the terminal up and SIGHUP a workload that is still exiting.
    pty_eof: bool,
    stdin: Option<OwnedFd>,
    stdout: Option<OwnedFd>,
    stderr: Option<OwnedFd>,
    /// Configured with a stdin pipe (even after it was closed).
    stdin_pipe: bool,
    has_pty: bool,
    input: Input,
    acked: u64,
    phase: Phase,
    failure: Option<(i32, Stage)>,
    exit_code: ExitCode,
    beam_gone: bool,
    /// Commands are no longer read once the session is being torn down.
    tearing_down: bool,
    grace: Duration,
    kill_at: Option<Instant>,
    /// Events held back to go out in one write (see `run`, `RUNNING_HOLD`).
    held: Option<Vec<Event>>,
    /// When the held events go out at the latest.
    held_until: Option<Instant>,
    /// The workload's mount namespace, released once the terminal event is out
    /// (`clone::hold_mount_ns`).
    mount_ns: Option<OwnedFd>,
}

impl Session {
    pub fn new(chan: Channel, launched: Launched, grace_ms: u32) -> Session {
        let has_pty = launched.pty.is_some();
        let stdin_pipe = launched.stdin.is_some();
        Session {
            chan,
            pid: launched.pid,
            pidfd: launched.pidfd,
            child_pid: 0,
            c2p: Some(launched.c2p),
            c2p_buf: Vec::new(),
            p2c: Some(launched.p2c),
            pty: launched.pty,
            pty_eof: false,
            stdin: launched.stdin,
            stdout: launched.stdout,
            stderr: launched.stderr,
            stdin_pipe,
            has_pty,
            input: Input::default(),
            acked: 0,
            phase: Phase::Spawned,
            failure: None,
            exit_code: ExitCode::Ok,
            beam_gone: false,
            tearing_down: false,
            grace: Duration::from_millis(grace_ms as u64),
            kill_at: None,
            held: None,
            held_until: None,
            mount_ns: launched.mount_ns,
        }
    }

    /// Runs until the child is reaped; returns the agent's exit code.
    pub fn run(mut self) -> ExitCode {
        // The child reports `Ready` within microseconds of the clone, normally: waiting a
        // little for it lets `Spawned` and `Ready` reach the BEAM in one write, which
        // saves the BEAM (and the CPUs it shares with the child) a wake-up. The wait is
        // bounded, so a slow child still has its host pid reported early.
        let mut ready = false;
        if let Some(c2p) = &self.c2p {
            let mut fds = [libc::pollfd {
                fd: c2p.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            }];
            ready = matches!(fdio::poll(&mut fds, SPAWNED_WAIT_MS), Ok(n) if n > 0);
        }
        self.held = Some(vec![Event::Spawned(self.pid)]);
        if ready {
            self.read_c2p();
        }
        self.flush_held();
        loop {
            if let Some(code) = self.step() {
                self.mount_ns = None;
                if !self.beam_gone {
                    self.chan.await_close(LINGER_AFTER_LAST_EVENT);
                }
                return code;
            }
        }
    }

    fn step(&mut self) -> Option<ExitCode> {
        let mut fds: Vec<libc::pollfd> = Vec::with_capacity(7);
        let mut sources: Vec<Source> = Vec::with_capacity(7);
        let mut watch = |fd: i32, events: i16, src: Source| {
            fds.push(libc::pollfd {
                fd,
                events,
                revents: 0,
            });
            sources.push(src);
        };
        // Order matters: the checkpoint pipe is handled before the pidfd so an exec is
        // reported as :running before the exit of a short-lived workload.
        if let Some(fd) = &self.c2p {
            watch(fd.as_raw_fd(), libc::POLLIN, Source::C2p);
        }
        if !self.beam_gone && !self.tearing_down {
            watch(self.chan.rx_raw(), libc::POLLIN, Source::Beam);
        }
        if let Some(fd) = &self.pty {
            let out = if self.input.is_empty() {
                0
            } else {
                libc::POLLOUT
            };
            watch(fd.as_raw_fd(), libc::POLLIN | out, Source::Pty);
        }
        if let Some(fd) = &self.stdout {
            watch(fd.as_raw_fd(), libc::POLLIN, Source::Stdout);
        }
        if let Some(fd) = &self.stderr {
            watch(fd.as_raw_fd(), libc::POLLIN, Source::Stderr);
        }
        if let Some(fd) = &self.stdin {
            if !self.input.is_empty() || self.input.close_after {
                watch(fd.as_raw_fd(), libc::POLLOUT, Source::Stdin);
            }
        }
        watch(self.pidfd.as_raw_fd(), libc::POLLIN, Source::Child);

        let deadline = match (self.kill_at, self.held_until) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let timeout = match deadline {
            None => -1,
            // Rounded up, so the deadline has passed when poll times out.
            Some(at) => at
                .saturating_duration_since(Instant::now())
                .as_micros()
                .div_ceil(1000)
                .min(i32::MAX as u128) as i32,
        };
        match fdio::poll(&mut fds, timeout) {
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => return None,
            Err(e) => {
                self.fail(
                    e.raw_os_error().unwrap_or(libc::EIO),
                    Stage::Poll,
                    ExitCode::Internal,
                );
                return None;
            }
        }

        let mut child_exited = false;
        for (pfd, src) in fds.iter().zip(sources) {
            let ready = pfd.revents;
            if ready == 0 {
                continue;
            }
            match src {
                Source::C2p => self.read_c2p(),
                Source::Beam => self.read_beam(),
                Source::Pty => {
                    if ready & libc::POLLOUT != 0 {
                        self.flush_input();
                    }
                    if ready & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 {
                        self.read_output(Source::Pty);
                    }
                }
                Source::Stdout | Source::Stderr => {
                    self.read_output(src);
                }
                Source::Stdin => self.flush_input(),
                Source::Child => child_exited = true,
            }
        }
        self.send_acks();
        if self.held_until.is_some_and(|at| Instant::now() >= at) {
            self.flush_held();
        }

        if self.kill_at.is_some_and(|at| Instant::now() >= at) {
            self.kill_at = None;
            self.kill(libc::SIGKILL);
        }
        if child_exited {
            return Some(self.finish());
        }
        None
    }

    // --- events ---------------------------------------------------------------------

    fn emit(&mut self, event: Event) {
        if self.beam_gone {
            return;
        }
        if let Some(held) = &mut self.held {
            held.push(event);
            return;
        }
        if self.chan.send(&event).is_err() {
            self.beam_gone();
        }
    }

    /// Sends the held events, if any, in one write.
    fn flush_held(&mut self) {
        self.held_until = None;
        let events = self.held.take().unwrap_or_default();
        if !events.is_empty() && !self.beam_gone && self.chan.send_all(&events).is_err() {
            self.beam_gone();
        }
    }

    fn send_acks(&mut self) {
        if self.acked > 0 {
            let n = std::mem::take(&mut self.acked);
            self.emit(Event::InputAck(n));
        }
    }

    // --- the child ------------------------------------------------------------------

    fn kill(&self, sig: i32) {
        // ESRCH (already exited) is fine: the pidfd reports the exit either way.
        let _ = process::pidfd_send_signal(self.pidfd.as_fd(), sig);
    }

    /// Records the session's failure (the first one wins), kills the child, and stops
    /// reading commands. The terminal `{:error, ...}` is sent once the child is reaped.
    fn fail(&mut self, errno: i32, stage: Stage, code: ExitCode) {
        if self.failure.is_none() {
            self.failure = Some((errno, stage));
            self.exit_code = code;
        }
        self.tearing_down = true;
        self.p2c = None;
        self.kill(libc::SIGKILL);
    }

    fn send_child(&mut self, cmd: ToChild) {
        if let Some(p2c) = &self.p2c {
            // Blocking write: the parked child reads commands as fast as they come. If it
            // died meanwhile (EPIPE) its pidfd reports that.
            let _ = fdio::write_all(p2c.as_fd(), &cmd.encode());
        }
    }

    /// The BEAM closed fd 3 or died: a parked child is killed at once; a running
    /// workload gets SIGTERM and the grace period first, if one was configured.
    fn beam_gone(&mut self) {
        if self.beam_gone {
            return;
        }
        self.beam_gone = true;
        self.exit_code = ExitCode::Channel;
        if self.phase == Phase::Running && !self.grace.is_zero() {
            self.kill(libc::SIGTERM);
            self.kill_at = Some(Instant::now() + self.grace);
        } else {
            self.p2c = None;
            self.kill(libc::SIGKILL);
        }
    }

    // --- the checkpoint pipe ----------------------------------------------------------

    fn read_c2p(&mut self) {
        let Some(fd) = &self.c2p else { return };
        let mut buf = [0u8; 4 * RECORD];
        match fdio::read(fd.as_fd(), &mut buf) {
            Ok(0) => self.c2p_eof(),
            Ok(n) => {
                self.c2p_buf.extend_from_slice(&buf[..n]);
                while self.c2p_buf.len() >= RECORD {
                    let record: Vec<u8> = self.c2p_buf.drain(..RECORD).collect();
                    self.child_record(FromChild::decode(&record));
                }
            }
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => {}
            Err(e) => {
                let stage = match self.phase {
                    Phase::Spawned => Stage::ReadyFrame,
                    _ => Stage::ExecOutcome,
                };
                self.c2p = None;
                self.fail(
                    e.raw_os_error().unwrap_or(libc::EIO),
                    stage,
                    ExitCode::Internal,
                );
            }
        }
    }

    fn child_record(&mut self, record: Option<FromChild>) {
        match record {
            Some(FromChild::Ready(pid)) if self.phase == Phase::Spawned => {
                self.child_pid = pid;
                self.phase = Phase::Parked;
                self.emit(Event::Ready(pid));
            }
            Some(FromChild::Failed(errno, stage)) => {
                if self.failure.is_none() {
                    self.failure = Some((errno, stage));
                }
            }
            _ => self.fail(libc::EPROTO, Stage::MalformedReady, ExitCode::Internal),
        }
    }

    fn c2p_eof(&mut self) {
        self.c2p = None;
        if !self.c2p_buf.is_empty() {
            self.fail(libc::EPROTO, Stage::MalformedReady, ExitCode::Internal);
            return;
        }
        // The pipe is close-on-exec: after proceed, end of file without a failure record
        // means execve succeeded.
        if self.phase == Phase::Proceeding && self.failure.is_none() {
            self.phase = Phase::Running;
            if self.held.is_none() {
                self.held = Some(Vec::new());
                self.held_until = Some(Instant::now() + RUNNING_HOLD);
            }
            self.emit(Event::Running);
        }
    }

    // --- commands from the BEAM -------------------------------------------------------

    fn read_beam(&mut self) {
        match self.chan.fill() {
            Ok(true) => {}
            Ok(false) => return self.beam_gone(),
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => return,
            Err(_) => return self.beam_gone(),
        }
        while !self.tearing_down {
            match self.chan.next_frame() {
                Ok(None) => break,
                Err(_) => {
                    self.fail(libc::EMSGSIZE, Stage::CommandTooBig, ExitCode::Protocol);
                }
                Ok(Some(frame)) => {
                    match etf::decode(&frame)
                        .ok()
                        .as_ref()
                        .and_then(protocol::parse_command)
                    {
                        Some(cmd) => self.command(cmd),
                        None => {
                            self.fail(libc::EINVAL, Stage::MalformedCommand, ExitCode::Protocol)
                        }
                    }
                }
            }
        }
    }

    /// Applies one command, if it is valid in the current phase; anything else is a
    /// protocol violation by the BEAM side and ends the session visibly.
    fn command(&mut self, cmd: Command) {
        let phase = self.phase;
        match (cmd, phase) {
            (Command::Proceed, Phase::Parked) => {
                self.send_child(ToChild::Proceed);
                self.phase = Phase::Proceeding;
            }
            // A repeated abort (the session's teardown racing a user's abort) is a no-op.
            (Command::Abort, Phase::Aborting) => {}
            // The session's teardown aborts a workload it has not yet seen running; if it
            // exec'd meanwhile (`:running` is on its way), it is killed instead.
            (Command::Abort, Phase::Running) => self.kill(libc::SIGKILL),
            (Command::Abort, Phase::Spawned | Phase::Parked | Phase::Proceeding) => {
                // Closing p2c makes the parked child _exit; SIGKILL covers a child that is
                // not reading (still before the checkpoint, applying a command, or past
                // proceed but not yet exec'd: the BEAM side's teardown path).
                self.p2c = None;
                self.kill(libc::SIGKILL);
                self.phase = Phase::Aborting;
            }
            (Command::CapDropBounding(m), Phase::Parked) => {
                self.send_child(ToChild::DropBounding(m))
            }
            (Command::CapSetThread(e, p, i), Phase::Parked) => {
                self.send_child(ToChild::SetThread(e, p, i))
            }
            (Command::CapSetAmbient(m), Phase::Parked) => self.send_child(ToChild::SetAmbient(m)),
            (Command::SeccompInstall(program), Phase::Parked) => {
                match process::seccomp_instructions(&program) {
                    Ok(_) => self.send_child(ToChild::Seccomp(program)),
                    Err(e) => self.fail(
                        e.raw_os_error().unwrap_or(libc::EINVAL),
                        Stage::SeccompInstall,
                        ExitCode::Ok,
                    ),
                }
            }
            (Command::Winsize(ws), Phase::Parked | Phase::Proceeding | Phase::Running)
                if self.has_pty =>
            {
                // Best effort, as in 0.2: a master that is already gone has no size.
                if let Some(master) = &self.pty {
                    let _ = pty::set_window_size(master.as_fd(), ws);
                }
            }
            (Command::Signal(sig), Phase::Running) => self.kill(sig),
            (Command::PtyIn(bytes), Phase::Running) if self.has_pty => self.queue_input(&bytes),
            (Command::Stdin(bytes), Phase::Running) if self.stdin_pipe => self.queue_input(&bytes),
            (Command::StdinClose, Phase::Running) if self.stdin_pipe => {
                self.input.close_after = true;
                self.flush_input();
            }
            _ => self.fail(libc::EINVAL, Stage::MalformedCommand, ExitCode::Protocol),
        }
    }

    // --- relays -------------------------------------------------------------------------

    fn input_fd(&self) -> Option<&OwnedFd> {
        self.pty.as_ref().or(self.stdin.as_ref())
    }

    fn input_target(&mut self) -> (Option<&OwnedFd>, &mut Input) {
        (self.pty.as_ref().or(self.stdin.as_ref()), &mut self.input)
    }

    fn queue_input(&mut self, bytes: &[u8]) {
        if self.input_fd().is_none() {
            // The reader is gone: the bytes are dropped, but still acknowledged.
            self.acked += bytes.len() as u64;
            return;
        }
        self.input.push(bytes);
        self.flush_input();
    }

    fn flush_input(&mut self) {
        let flushed = match self.input_target() {
            (Some(fd), input) => input.flush(fd.as_fd()),
            (None, input) => {
                let dropped = input.discard();
                self.acked += dropped;
                return;
            }
        };
        self.acked += flushed.consumed;
        if flushed.broken {
            // Keep a broken PTY master: its output may still need draining.
            self.stdin = None;
        }
        if self.input.is_empty() && self.input.close_after {
            self.stdin = None;
            self.input.close_after = false;
        }
    }

    /// One read from an output; returns whether it produced data (more may follow).
    fn read_output(&mut self, src: Source) -> bool {
        let slot = match src {
            Source::Pty => &mut self.pty,
            Source::Stdout => &mut self.stdout,
            Source::Stderr => &mut self.stderr,
            _ => return false,
        };
        let Some(fd) = slot else { return false };
        if src == Source::Pty && self.pty_eof {
            return false;
        }
        match relay::read_chunk(fd.as_fd()) {
            Read::Again => false,
            Read::Closed if src == Source::Pty => {
                self.pty_eof = true;
                self.acked += self.input.discard();
                false
            }
            Read::Closed => {
                *slot = None;
                false
            }
            Read::Data(bytes) => {
                self.emit(match src {
                    Source::Pty => Event::PtyOut(bytes),
                    Source::Stdout => Event::Stdout(bytes),
                    _ => Event::Stderr(bytes),
                });
                true
            }
        }
    }

    // --- the end ------------------------------------------------------------------------

    /// The pidfd is readable: reap, settle what the checkpoint pipe still says, drain the
    /// output, and send the one terminal event.
    fn finish(&mut self) -> ExitCode {
        let status = match process::wait_pidfd(self.pidfd.as_fd(), true) {
            Ok(status) => status,
            Err(e) => {
                if self.failure.is_none() {
                    self.failure = Some((e.raw_os_error().unwrap_or(libc::EIO), Stage::Waitid));
                    self.exit_code = ExitCode::Internal;
                }
                None
            }
        };
        // The child is gone, so every write end of the checkpoint pipe is closed: these
        // reads cannot block.
        while self.c2p.is_some() {
            self.read_c2p();
        }
        // Outputs are non-blocking: read each until it would block or is closed. A PTY
        // master flushes the line discipline's pending work before answering EAGAIN or
        // EIO, so nothing the workload wrote before exiting is lost.
        for src in [Source::Pty, Source::Stdout, Source::Stderr] {
            while self.read_output(src) {}
        }
        self.send_acks();

        let terminal = if let Some((errno, stage)) = self.failure {
            Event::Error(errno, stage)
        } else if self.phase == Phase::Aborting {
            Event::Aborted(self.child_pid)
        } else if self.phase == Phase::Spawned {
            // Died before it could report the checkpoint (killed from outside).
            Event::Error(libc::EIO, Stage::ReadyFrame)
        } else {
            match status {
                Some(ExitStatus::Exited(code)) => Event::Exited(code),
                Some(ExitStatus::Signaled(sig)) => Event::Signaled(sig),
                None => Event::Error(libc::ECHILD, Stage::Waitid),
            }
        };
        debug_assert!(terminal.is_terminal());
        self.emit(terminal);
        self.flush_held();
        self.exit_code
    }
}
