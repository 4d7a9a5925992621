//! The BEAM ↔ agent protocol: the request, the commands, the events, and the stage
//! names a failure is reported under. Every frame on fd 3/4 is one ETF term behind a
//! 4-byte big-endian length (`{:packet, 4}`).
//!
//! Request: `{:spawn, map}` or `{:enter, map}`, the map holding `argv` (required),
//! `namespaces`, `env`, `stdio`, `cwd`, `no_new_privs`, `orphan_policy` and, for enter,
//! `target`. Unknown keys are ignored so a newer BEAM side can talk to an older agent.
//!
//! Commands: `:proceed`, `:abort`, `{:cap_drop_bounding, mask}`,
//! `{:cap_set_thread, e, p, i}`, `{:cap_set_ambient, mask}`, `{:seccomp_install, bpf}`
//! and `{:pty_winsize, {r, c, x, y}}` at the checkpoint; `{:signal, n}`,
//! `{:pty_in, bytes}`, `{:stdin, bytes}`, `:stdin_close` and `{:pty_winsize, _}` once
//! running.
//!
//! Events: `{:status, :spawned, host_pid}`, `{:status, :ready, pid_in_child_ns}`,
//! `{:status, :running}`, then exactly one of `{:status, :exited, code}`,
//! `{:status, :signaled, signum}`, `{:status, :aborted, child_pid}` or
//! `{:error, errno, stage}`; meanwhile `{:pty_out, bytes}`, `{:stdout, bytes}`,
//! `{:stderr, bytes}` and `{:input_ack, nbytes}` (flow control for input).

use crate::etf::{atom, int, tuple, Term};
use linx_sys::pty::WinSize;
use std::ffi::{CStr, CString};

macro_rules! stages {
    ($($(#[$doc:meta])* $variant:ident => $name:literal,)*) => {
        /// Where a session failed; sent as the atom in `{:error, errno, stage}`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        #[repr(u16)]
        pub enum Stage { $($(#[$doc])* $variant,)* }

        impl Stage {
            /// Every stage the agent can report (`linx_agent --list-stages`).
            pub const ALL: &'static [Stage] = &[$(Stage::$variant,)*];

            /// The atom name.
            pub fn name(self) -> &'static str {
                match self { $(Stage::$variant => $name,)* }
            }
        }
    };
}

stages! {
    // Agent set-up before the workload exists.
    /// The agent could not take over its control pipes or make itself safe to clone.
    AgentInit => "agent_init",
    PosixOpenpt => "posix_openpt",
    /// `unlockpt` on the new master.
    Ptsetup => "ptsetup",
    /// Opening the slave through the master (`TIOCGPTPEER`).
    PtsOpen => "pts_open",
    Pipe2 => "pipe2",
    /// Resetting signal dispositions and the mask in the child.
    Sigprocmask => "sigprocmask",
    /// `{:connect_unix, path}`: connected by the agent, on the host, before the clone.
    ConnectUnix => "connect_unix",
    // Process creation: clone3 for spawn; for enter (after the setns calls) too.
    Clone => "clone",
    Fork => "fork",
    // Enter: the pinned /proc/<target> directory, then each namespace file and setns.
    OpenNsProc => "open_ns_proc",
    OpenNsUser => "open_ns_user",
    OpenNsMount => "open_ns_mount",
    OpenNsUts => "open_ns_uts",
    OpenNsIpc => "open_ns_ipc",
    OpenNsCgroup => "open_ns_cgroup",
    OpenNsNet => "open_ns_net",
    OpenNsTime => "open_ns_time",
    OpenNsPid => "open_ns_pid",
    SetnsUser => "setns_user",
    SetnsMount => "setns_mount",
    SetnsUts => "setns_uts",
    SetnsIpc => "setns_ipc",
    SetnsCgroup => "setns_cgroup",
    SetnsNet => "setns_net",
    SetnsTime => "setns_time",
    SetnsPid => "setns_pid",
    // In the child.
    /// Opening `/dev/null` (in the agent) or wiring fds 0-2 (in the child).
    Stdio => "stdio",
    Chdir => "chdir",
    Execve => "execve",
    CapDropBounding => "cap_drop_bounding",
    CapSetThread => "cap_set_thread",
    CapSetAmbient => "cap_set_ambient",
    SeccompInstall => "seccomp_install",
    SeccompNoNewPrivs => "seccomp_no_new_privs",
    // Transport.
    MalformedRequest => "malformed_request",
    RequestTooBig => "request_too_big",
    CommandTooBig => "command_too_big",
    /// A command that does not decode, or is not valid in the session's current stage.
    MalformedCommand => "malformed_command",
    /// The child ended before it could report that it reached the checkpoint.
    ReadyFrame => "ready_frame",
    /// The child's checkpoint pipe carried something that is not a valid record.
    MalformedReady => "malformed_ready",
    /// The pipe that tells exec success from failure could not be read.
    ExecOutcome => "exec_outcome",
    // The agent's own supervision loop.
    Poll => "poll",
    Waitid => "waitid",
}

impl Stage {
    /// The number used on the agent ↔ child pipe.
    pub fn code(self) -> u16 {
        self as u16
    }

    pub fn from_code(code: u16) -> Option<Stage> {
        Self::ALL.get(code as usize).copied()
    }
}

/// The namespace kinds, named as the Elixir atoms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Namespace {
    User,
    Mount,
    Uts,
    Ipc,
    Cgroup,
    Net,
    Time,
    Pid,
}

impl Namespace {
    /// The order `enter` joins them in: user first (it grants the privilege the others
    /// need), pid last (it only applies to children created afterwards).
    pub const ENTER_ORDER: [Namespace; 8] = [
        Namespace::User,
        Namespace::Mount,
        Namespace::Uts,
        Namespace::Ipc,
        Namespace::Cgroup,
        Namespace::Net,
        Namespace::Time,
        Namespace::Pid,
    ];

    pub fn from_atom(name: &str) -> Option<Self> {
        Some(match name {
            "user" => Namespace::User,
            "mount" => Namespace::Mount,
            "uts" => Namespace::Uts,
            "ipc" => Namespace::Ipc,
            "cgroup" => Namespace::Cgroup,
            "net" => Namespace::Net,
            "time" => Namespace::Time,
            "pid" => Namespace::Pid,
            _ => return None,
        })
    }

    /// The `CLONE_NEW*` flag (linux/sched.h), for clone3 and setns alike.
    pub fn clone_flag(self) -> u64 {
        use linx_sys::process::*;
        match self {
            Namespace::User => CLONE_NEWUSER,
            Namespace::Mount => CLONE_NEWNS,
            Namespace::Uts => CLONE_NEWUTS,
            Namespace::Ipc => CLONE_NEWIPC,
            Namespace::Cgroup => CLONE_NEWCGROUP,
            Namespace::Net => CLONE_NEWNET,
            Namespace::Time => CLONE_NEWTIME,
            Namespace::Pid => CLONE_NEWPID,
        }
    }

    /// The file under `/proc/<pid>/` (procfs names: `mnt`, not `mount`).
    pub fn proc_path(self) -> &'static CStr {
        match self {
            Namespace::User => c"ns/user",
            Namespace::Mount => c"ns/mnt",
            Namespace::Uts => c"ns/uts",
            Namespace::Ipc => c"ns/ipc",
            Namespace::Cgroup => c"ns/cgroup",
            Namespace::Net => c"ns/net",
            Namespace::Time => c"ns/time",
            Namespace::Pid => c"ns/pid",
        }
    }

    pub fn open_stage(self) -> Stage {
        match self {
            Namespace::User => Stage::OpenNsUser,
            Namespace::Mount => Stage::OpenNsMount,
            Namespace::Uts => Stage::OpenNsUts,
            Namespace::Ipc => Stage::OpenNsIpc,
            Namespace::Cgroup => Stage::OpenNsCgroup,
            Namespace::Net => Stage::OpenNsNet,
            Namespace::Time => Stage::OpenNsTime,
            Namespace::Pid => Stage::OpenNsPid,
        }
    }

    pub fn setns_stage(self) -> Stage {
        match self {
            Namespace::User => Stage::SetnsUser,
            Namespace::Mount => Stage::SetnsMount,
            Namespace::Uts => Stage::SetnsUts,
            Namespace::Ipc => Stage::SetnsIpc,
            Namespace::Cgroup => Stage::SetnsCgroup,
            Namespace::Net => Stage::SetnsNet,
            Namespace::Time => Stage::SetnsTime,
            Namespace::Pid => Stage::SetnsPid,
        }
    }
}

/// What one of the workload's fds 0, 1, 2 is connected to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Direction {
    /// Left as the agent's (which are the BEAM's).
    Inherit,
    /// `/dev/null`, opened by the agent on the host.
    Devnull,
    /// A pipe relayed through the agent: `{:stdin, _}` in, `{:stdout|:stderr, _}` out.
    Pipe,
    /// An AF_UNIX stream socket connected by the agent to this path.
    ConnectUnix(Vec<u8>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stdio {
    /// One pseudo-terminal for all three fds; the master stays in the agent.
    Pty,
    Fds([Direction; 3]),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Spawn,
    /// Join the namespaces of this host pid.
    Enter {
        target: i32,
    },
}

#[derive(Debug)]
pub struct Request {
    pub mode: Mode,
    /// Spawn: the namespaces to create. Enter: the ones to join, `None` = all of them.
    pub namespaces: Option<Vec<Namespace>>,
    pub argv: Vec<CString>,
    /// `None` = the agent's own environment.
    pub env: Option<Vec<CString>>,
    pub stdio: Stdio,
    pub cwd: Option<CString>,
    pub no_new_privs: bool,
    /// When the BEAM goes away: SIGTERM, this long, then SIGKILL (0 = SIGKILL at once).
    pub orphan_grace_ms: u32,
}

/// A request the agent cannot use; the text says why (for tests and debugging).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed request: {0}")]
pub struct Malformed(pub &'static str);

fn c_string(term: &Term, what: &'static str) -> Result<CString, Malformed> {
    let bytes = term.as_bytes().ok_or(Malformed(what))?;
    CString::new(bytes).map_err(|_| Malformed(what))
}

fn c_strings(term: Option<&Term>, what: &'static str) -> Result<Option<Vec<CString>>, Malformed> {
    match term {
        None => Ok(None),
        Some(Term::List(items)) => items
            .iter()
            .map(|t| c_string(t, what))
            .collect::<Result<_, _>>()
            .map(Some),
        Some(_) => Err(Malformed(what)),
    }
}

fn direction(term: &Term) -> Result<Direction, Malformed> {
    match term {
        Term::Atom(a) if a == "inherit" => Ok(Direction::Inherit),
        Term::Atom(a) if a == "devnull" => Ok(Direction::Devnull),
        Term::Atom(a) if a == "pipe" => Ok(Direction::Pipe),
        Term::Tuple(items) if items.len() == 2 && items[0].as_atom() == Some("connect_unix") => {
            let path = items[1].as_bytes().ok_or(Malformed("stdio path"))?;
            if path.is_empty() || path.contains(&0) {
                return Err(Malformed("stdio path"));
            }
            Ok(Direction::ConnectUnix(path))
        }
        _ => Err(Malformed("stdio directive")),
    }
}

fn stdio(term: Option<&Term>) -> Result<Stdio, Malformed> {
    let all = |d: Direction| Ok(Stdio::Fds([d.clone(), d.clone(), d]));
    match term {
        None => all(Direction::Inherit),
        Some(Term::Atom(a)) if a == "pty" => Ok(Stdio::Pty),
        Some(t @ Term::Atom(_)) => all(direction(t)?),
        Some(Term::List(entries)) => {
            let mut fds = [Direction::Inherit, Direction::Inherit, Direction::Inherit];
            for entry in entries {
                let Term::Tuple(kv) = entry else {
                    return Err(Malformed("stdio entry"));
                };
                let [key, value] = kv.as_slice() else {
                    return Err(Malformed("stdio entry"));
                };
                let slot = match key.as_atom() {
                    Some("stdin") => 0,
                    Some("stdout") => 1,
                    Some("stderr") => 2,
                    _ => return Err(Malformed("stdio fd")),
                };
                fds[slot] = direction(value)?;
            }
            Ok(Stdio::Fds(fds))
        }
        Some(_) => Err(Malformed("stdio")),
    }
}

/// Parses the first frame.
pub fn parse_request(term: &Term) -> Result<Request, Malformed> {
    let Term::Tuple(items) = term else {
        return Err(Malformed("not a tuple"));
    };
    let [kind, map] = items.as_slice() else {
        return Err(Malformed("not a 2-tuple"));
    };
    if !matches!(map, Term::Map(_)) {
        return Err(Malformed("options are not a map"));
    }
    let mode = match kind.as_atom() {
        Some("spawn") => Mode::Spawn,
        Some("enter") => {
            let target = map
                .map_get("target")
                .and_then(Term::as_int)
                .and_then(|t| i32::try_from(t).ok())
                .filter(|&t| t > 0)
                .ok_or(Malformed("target"))?;
            Mode::Enter { target }
        }
        _ => return Err(Malformed("unknown request kind")),
    };
    let argv = c_strings(map.map_get("argv"), "argv")?.ok_or(Malformed("argv"))?;
    if argv.is_empty() || argv[0].as_bytes().is_empty() {
        return Err(Malformed("argv"));
    }
    let namespaces = match map.map_get("namespaces") {
        None => None,
        Some(Term::List(items)) => Some(
            items
                .iter()
                .map(|t| t.as_atom().and_then(Namespace::from_atom))
                .collect::<Option<Vec<_>>>()
                .ok_or(Malformed("namespaces"))?,
        ),
        Some(_) => return Err(Malformed("namespaces")),
    };
    let namespaces = match (mode, namespaces) {
        (Mode::Spawn, None) => Some(Vec::new()),
        (_, ns) => ns,
    };
    let env = c_strings(map.map_get("env"), "env")?;
    let cwd = map.map_get("cwd").map(|t| c_string(t, "cwd")).transpose()?;
    let no_new_privs = match map.map_get("no_new_privs").map(Term::as_atom) {
        None | Some(Some("false")) => false,
        Some(Some("true")) => true,
        _ => return Err(Malformed("no_new_privs")),
    };
    let orphan_grace_ms = match map.map_get("orphan_policy") {
        None => 0,
        Some(Term::Tuple(p)) if p.len() == 2 && p[0].as_atom() == Some("kill") => p[1]
            .as_int()
            .and_then(|ms| u32::try_from(ms).ok())
            .filter(|&ms| ms <= i32::MAX as u32)
            .ok_or(Malformed("orphan_policy"))?,
        Some(_) => return Err(Malformed("orphan_policy")),
    };
    Ok(Request {
        mode,
        namespaces,
        argv,
        env,
        stdio: stdio(map.map_get("stdio"))?,
        cwd,
        no_new_privs,
        orphan_grace_ms,
    })
}

/// A command from the BEAM after the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Proceed,
    Abort,
    Signal(i32),
    PtyIn(Vec<u8>),
    Stdin(Vec<u8>),
    StdinClose,
    Winsize(WinSize),
    CapDropBounding(u64),
    CapSetThread(u64, u64, u64),
    CapSetAmbient(u64),
    SeccompInstall(Vec<u8>),
}

fn mask(term: &Term) -> Option<u64> {
    term.as_int().and_then(|v| u64::try_from(v).ok())
}

fn u16_of(term: &Term) -> Option<u16> {
    term.as_int().and_then(|v| u16::try_from(v).ok())
}

/// Parses a command frame; `None` for anything malformed.
pub fn parse_command(term: &Term) -> Option<Command> {
    match term {
        Term::Atom(a) => match a.as_str() {
            "proceed" => Some(Command::Proceed),
            "abort" => Some(Command::Abort),
            "stdin_close" => Some(Command::StdinClose),
            _ => None,
        },
        Term::Tuple(items) => match (items.first()?.as_atom()?, &items[1..]) {
            ("signal", [n]) => {
                let n = n.as_int().and_then(|n| i32::try_from(n).ok())?;
                (1..=64).contains(&n).then_some(Command::Signal(n))
            }
            ("pty_in", [data]) => Some(Command::PtyIn(data.as_bytes()?)),
            ("stdin", [data]) => Some(Command::Stdin(data.as_bytes()?)),
            ("pty_winsize", [Term::Tuple(ws)]) => match ws.as_slice() {
                [r, c, x, y] => Some(Command::Winsize(WinSize {
                    rows: u16_of(r)?,
                    cols: u16_of(c)?,
                    xpixel: u16_of(x)?,
                    ypixel: u16_of(y)?,
                })),
                _ => None,
            },
            ("cap_drop_bounding", [m]) => Some(Command::CapDropBounding(mask(m)?)),
            ("cap_set_thread", [e, p, i]) => {
                Some(Command::CapSetThread(mask(e)?, mask(p)?, mask(i)?))
            }
            ("cap_set_ambient", [m]) => Some(Command::CapSetAmbient(mask(m)?)),
            ("seccomp_install", [Term::Binary(bpf)]) => Some(Command::SeccompInstall(bpf.clone())),
            _ => None,
        },
        _ => None,
    }
}

/// A frame to the BEAM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Spawned(i32),
    Ready(i32),
    Running,
    Exited(i32),
    Signaled(i32),
    Aborted(i32),
    Error(i32, Stage),
    PtyOut(Vec<u8>),
    Stdout(Vec<u8>),
    Stderr(Vec<u8>),
    InputAck(u64),
}

impl Event {
    pub fn to_term(&self) -> Term {
        let status = |what: &str, rest: Vec<Term>| {
            let mut items = vec![atom("status"), atom(what)];
            items.extend(rest);
            tuple(items)
        };
        let data = |tag: &str, bytes: &[u8]| tuple(vec![atom(tag), Term::Binary(bytes.to_vec())]);
        match self {
            Event::Spawned(pid) => status("spawned", vec![int(*pid)]),
            Event::Ready(pid) => status("ready", vec![int(*pid)]),
            Event::Running => status("running", vec![]),
            Event::Exited(code) => status("exited", vec![int(*code)]),
            Event::Signaled(sig) => status("signaled", vec![int(*sig)]),
            Event::Aborted(pid) => status("aborted", vec![int(*pid)]),
            Event::Error(errno, stage) => {
                tuple(vec![atom("error"), int(*errno), atom(stage.name())])
            }
            Event::PtyOut(bytes) => data("pty_out", bytes),
            Event::Stdout(bytes) => data("stdout", bytes),
            Event::Stderr(bytes) => data("stderr", bytes),
            Event::InputAck(n) => tuple(vec![atom("input_ack"), int(*n)]),
        }
    }

    /// Whether this event ends the session (exactly one is ever sent).
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            Event::Exited(_) | Event::Signaled(_) | Event::Aborted(_) | Event::Error(..)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::etf::{decode, encode};

    fn bin(s: &str) -> Term {
        Term::Binary(s.as_bytes().to_vec())
    }

    fn map(pairs: Vec<(&str, Term)>) -> Term {
        Term::Map(pairs.into_iter().map(|(k, v)| (atom(k), v)).collect())
    }

    #[test]
    fn stage_names_are_unique_and_codes_round_trip() {
        let mut names: Vec<_> = Stage::ALL.iter().map(|s| s.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), Stage::ALL.len());
        for s in Stage::ALL {
            assert_eq!(Stage::from_code(s.code()), Some(*s));
        }
        assert_eq!(Stage::from_code(9999), None);
        for ns in Namespace::ENTER_ORDER {
            assert!(ns.open_stage().name().starts_with("open_ns_"));
            assert!(ns.setns_stage().name().starts_with("setns_"));
        }
    }

    #[test]
    fn a_full_spawn_request_parses() {
        let req = tuple(vec![
            atom("spawn"),
            map(vec![
                ("argv", Term::List(vec![bin("/bin/echo"), bin("hi")])),
                ("namespaces", Term::List(vec![atom("net"), atom("time")])),
                ("env", Term::List(vec![bin("A=1")])),
                (
                    "stdio",
                    Term::List(vec![
                        tuple(vec![atom("stdin"), atom("pipe")]),
                        tuple(vec![
                            atom("stderr"),
                            tuple(vec![atom("connect_unix"), bin("/tmp/s")]),
                        ]),
                    ]),
                ),
                ("cwd", bin("/")),
                ("no_new_privs", atom("true")),
                ("orphan_policy", tuple(vec![atom("kill"), int(250)])),
                ("some_future_key", int(1)),
            ]),
        ]);
        let r = parse_request(&decode(&encode(&req)).unwrap()).unwrap();
        assert_eq!(r.mode, Mode::Spawn);
        assert_eq!(r.namespaces, Some(vec![Namespace::Net, Namespace::Time]));
        assert_eq!(r.argv, vec![c"/bin/echo".to_owned(), c"hi".to_owned()]);
        assert_eq!(r.env, Some(vec![c"A=1".to_owned()]));
        assert_eq!(
            r.stdio,
            Stdio::Fds([
                Direction::Pipe,
                Direction::Inherit,
                Direction::ConnectUnix(b"/tmp/s".to_vec())
            ])
        );
        assert_eq!(r.cwd, Some(c"/".to_owned()));
        assert!(r.no_new_privs);
        assert_eq!(r.orphan_grace_ms, 250);
    }

    #[test]
    fn enter_defaults_to_all_namespaces_and_needs_a_target() {
        let argv = ("argv", Term::List(vec![bin("/bin/true")]));
        let r = parse_request(&tuple(vec![
            atom("enter"),
            map(vec![argv.clone(), ("target", int(42))]),
        ]))
        .unwrap();
        assert_eq!(r.mode, Mode::Enter { target: 42 });
        assert_eq!(r.namespaces, None);
        assert_eq!(
            r.stdio,
            Stdio::Fds([Direction::Inherit, Direction::Inherit, Direction::Inherit])
        );
        assert_eq!(
            parse_request(&tuple(vec![atom("enter"), map(vec![argv.clone()])])).unwrap_err(),
            Malformed("target")
        );
        assert_eq!(
            parse_request(&tuple(vec![
                atom("enter"),
                map(vec![argv, ("target", int(0))])
            ]))
            .unwrap_err(),
            Malformed("target")
        );
    }

    #[test]
    fn malformed_requests_name_the_problem() {
        let spawn = |pairs| tuple(vec![atom("spawn"), map(pairs)]);
        let argv = || ("argv", Term::List(vec![bin("/bin/true")]));
        let cases = vec![
            (atom("spawn"), "not a tuple"),
            (tuple(vec![atom("spawn"), int(1)]), "options are not a map"),
            (
                tuple(vec![atom("exec"), map(vec![])]),
                "unknown request kind",
            ),
            (spawn(vec![]), "argv"),
            (spawn(vec![("argv", Term::List(vec![]))]), "argv"),
            (
                spawn(vec![("argv", Term::List(vec![bin("/bin/\0x")]))]),
                "argv",
            ),
            (
                spawn(vec![
                    argv(),
                    ("namespaces", Term::List(vec![atom("bogus")])),
                ]),
                "namespaces",
            ),
            (spawn(vec![argv(), ("env", bin("A=1"))]), "env"),
            (
                spawn(vec![argv(), ("stdio", atom("tty"))]),
                "stdio directive",
            ),
            (
                spawn(vec![
                    argv(),
                    (
                        "stdio",
                        Term::List(vec![tuple(vec![atom("fd3"), atom("pipe")])]),
                    ),
                ]),
                "stdio fd",
            ),
            (
                spawn(vec![
                    argv(),
                    (
                        "stdio",
                        Term::List(vec![tuple(vec![
                            atom("stdin"),
                            tuple(vec![atom("connect_unix"), bin("")]),
                        ])]),
                    ),
                ]),
                "stdio path",
            ),
            (spawn(vec![argv(), ("cwd", int(1))]), "cwd"),
            (
                spawn(vec![argv(), ("no_new_privs", atom("yes"))]),
                "no_new_privs",
            ),
            (
                spawn(vec![
                    argv(),
                    ("orphan_policy", tuple(vec![atom("kill"), int(-1)])),
                ]),
                "orphan_policy",
            ),
        ];
        for (term, why) in cases {
            assert_eq!(
                parse_request(&term).unwrap_err(),
                Malformed(why),
                "{term:?}"
            );
        }
    }

    #[test]
    fn commands_parse_and_reject_out_of_range_values() {
        assert_eq!(parse_command(&atom("proceed")), Some(Command::Proceed));
        assert_eq!(parse_command(&atom("abort")), Some(Command::Abort));
        assert_eq!(
            parse_command(&atom("stdin_close")),
            Some(Command::StdinClose)
        );
        assert_eq!(
            parse_command(&tuple(vec![atom("signal"), int(64)])),
            Some(Command::Signal(64))
        );
        assert_eq!(parse_command(&tuple(vec![atom("signal"), int(65)])), None);
        assert_eq!(parse_command(&tuple(vec![atom("signal"), int(0)])), None);
        assert_eq!(
            parse_command(&tuple(vec![
                atom("cap_set_thread"),
                int(1),
                int(u64::MAX),
                int(0)
            ])),
            Some(Command::CapSetThread(1, u64::MAX, 0))
        );
        assert_eq!(
            parse_command(&tuple(vec![atom("cap_set_ambient"), int(-1)])),
            None
        );
        assert_eq!(
            parse_command(&tuple(vec![
                atom("pty_winsize"),
                tuple(vec![int(24), int(80), int(0), int(0)])
            ])),
            Some(Command::Winsize(WinSize {
                rows: 24,
                cols: 80,
                xpixel: 0,
                ypixel: 0
            }))
        );
        assert_eq!(
            parse_command(&tuple(vec![
                atom("pty_winsize"),
                tuple(vec![int(65536), int(80), int(0), int(0)])
            ])),
            None
        );
        assert_eq!(
            parse_command(&tuple(vec![
                atom("seccomp_install"),
                Term::Binary(vec![1; 8])
            ])),
            Some(Command::SeccompInstall(vec![1; 8]))
        );
        assert_eq!(parse_command(&tuple(vec![atom("pty_in"), int(3)])), None);
        assert_eq!(parse_command(&tuple(vec![])), None);
        assert_eq!(parse_command(&atom("reboot")), None);
    }

    #[test]
    fn events_encode_to_the_0_2_shapes() {
        assert_eq!(
            Event::Spawned(7).to_term(),
            tuple(vec![atom("status"), atom("spawned"), int(7)])
        );
        assert_eq!(
            Event::Running.to_term(),
            tuple(vec![atom("status"), atom("running")])
        );
        assert_eq!(
            Event::Error(2, Stage::Execve).to_term(),
            tuple(vec![atom("error"), int(2), atom("execve")])
        );
        assert!(Event::Aborted(1).is_terminal());
        assert!(!Event::InputAck(3).is_terminal());
    }
}
