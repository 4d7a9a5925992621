//! Creating the workload process: stdio resources (on the host, before anything else),
//! the two checkpoint pipes, for `enter` the target's namespaces (joined by the agent
//! itself), then one `clone3` with the namespace flags and `CLONE_PIDFD`.
//!
//! Everything the child needs is prepared here, before the clone, so the child runs no
//! code that could fail for lack of resources between the clone and the checkpoint.

use crate::child::{self, ChildPlan};
use crate::protocol::{Direction, Mode, Namespace, Request, Stage, Stdio};
use linx_sys::fdio;
use linx_sys::process::{self, CStringArray, Forked, SingleThreaded};
use linx_sys::pty;
use std::ffi::{CString, OsStr};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::net::UnixStream;

/// A failure before or during the clone: what failed and the kernel's errno.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failure {
    pub stage: Stage,
    pub errno: i32,
}

impl Failure {
    pub fn new(stage: Stage, err: io::Error) -> Self {
        Failure {
            stage,
            errno: err.raw_os_error().unwrap_or(libc::EIO),
        }
    }

    pub fn errno(stage: Stage, errno: i32) -> Self {
        Failure { stage, errno }
    }
}

/// The agent's side of a freshly created workload.
pub struct Launched {
    pub pid: i32,
    pub pidfd: OwnedFd,
    /// Records from the child (close-on-exec in the child: EOF after proceed = exec'd).
    pub c2p: OwnedFd,
    /// Commands to the parked child; closing it aborts.
    pub p2c: OwnedFd,
    pub pty: Option<OwnedFd>,
    pub stdin: Option<OwnedFd>,
    pub stdout: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
    /// The child's new mount namespace, held open by the agent (see [`hold_mount_ns`]).
    pub mount_ns: Option<OwnedFd>,
}

/// Opens the child's new mount namespace so that the agent, not the exiting workload,
/// drops its last reference. Freeing a mount namespace unmounts its tree and waits for an
/// RCU grace period (`namespace_unlock`): done by the workload's own exit, that wait
/// (0.2-0.3 ms here, several ms when the CPUs are busy) would stand between the exit and
/// the pidfd turning readable, delaying the terminal event. The session closes this
/// right after sending that event. Best effort: without it only the timing changes.
/// `pid` is our unreaped child, so `/proc/<pid>` cannot name another process.
fn hold_mount_ns(pid: i32) -> Option<OwnedFd> {
    let path = CString::new(format!("/proc/{pid}/ns/mnt")).ok()?;
    fdio::open(&path, libc::O_RDONLY).ok()
}

/// A network namespace made ahead of the request, by an agent started ahead
/// (`linx_agent --prepare-net`, see `Linx.Process.Prestart`).
///
/// Creating a network namespace is most of what `clone3` with the `CLONE_NEW*` flags
/// costs (`setup_net` runs every per-namespace initialiser of the kernel: 0.5-0.9 ms
/// here), and an idle agent has nothing else to do. So it creates one while it waits,
/// and a spawn that asks for a new network namespace (and no new user namespace, which
/// would have to own it) clones without `CLONE_NEWNET`: its child enters this one
/// first thing. The namespace is as fresh as one `clone3` would make: nothing ever ran
/// in it, it has only its own `lo`, and it is owned by the agent's user namespace, as a
/// `CLONE_NEWNET` by the agent would be.
pub struct SpareNetns(OwnedFd);

impl SpareNetns {
    /// Creates the namespace and returns the agent to its own: `unshare(CLONE_NEWNET)`
    /// moves the calling thread (the agent has only one) into a new namespace, which is
    /// opened and then left with `setns` back to the one held from before. `None` when
    /// the agent may not create one (no `CAP_SYS_ADMIN`): spawns then create theirs in
    /// `clone3` as usual. An error means the agent could not get back to its own
    /// namespace and must not serve any request.
    pub fn create() -> io::Result<Option<SpareNetns>> {
        let own = fdio::open(c"/proc/thread-self/ns/net", libc::O_RDONLY)?;
        if linx_sys::sys::unshare(libc::CLONE_NEWNET).is_err() {
            return Ok(None);
        }
        let fresh = fdio::open(c"/proc/thread-self/ns/net", libc::O_RDONLY);
        linx_sys::sys::setns(own.as_fd(), libc::CLONE_NEWNET)
            .map_err(|e| io::Error::from_raw_os_error(e.errno))?;
        Ok(fresh.ok().map(SpareNetns))
    }

    /// Whether a spawn with these clone flags can use it instead of `CLONE_NEWNET`.
    fn fits(flags: u64) -> bool {
        flags & libc::CLONE_NEWNET as u64 != 0 && flags & libc::CLONE_NEWUSER as u64 == 0
    }
}

/// `sun_path` holds 108 bytes including the terminating NUL (linux/un.h).
const UNIX_PATH_MAX: usize = 108;

fn connect_unix(path: &[u8]) -> Result<OwnedFd, Failure> {
    if path.len() >= UNIX_PATH_MAX {
        return Err(Failure::errno(Stage::ConnectUnix, libc::ENAMETOOLONG));
    }
    UnixStream::connect(OsStr::from_bytes(path))
        .map(OwnedFd::from)
        .map_err(|e| Failure::new(Stage::ConnectUnix, e))
}

struct StdioParts {
    child: [Option<OwnedFd>; 3],
    pty_slave: Option<OwnedFd>,
    pty: Option<OwnedFd>,
    stdin: Option<OwnedFd>,
    stdout: Option<OwnedFd>,
    stderr: Option<OwnedFd>,
}

fn prepare_stdio(stdio: &Stdio) -> Result<StdioParts, Failure> {
    let mut parts = StdioParts {
        child: [None, None, None],
        pty_slave: None,
        pty: None,
        stdin: None,
        stdout: None,
        stderr: None,
    };
    match stdio {
        Stdio::Pty => {
            let master = pty::open_master().map_err(|e| Failure::new(Stage::PosixOpenpt, e))?;
            pty::unlock(master.as_fd()).map_err(|e| Failure::new(Stage::Ptsetup, e))?;
            let slave =
                pty::open_peer(master.as_fd()).map_err(|e| Failure::new(Stage::PtsOpen, e))?;
            parts.pty = Some(master);
            parts.pty_slave = Some(slave);
        }
        Stdio::Fds(dirs) => {
            for (fd, dir) in dirs.iter().enumerate() {
                parts.child[fd] = match dir {
                    Direction::Inherit => None,
                    Direction::Devnull => Some(
                        fdio::open(c"/dev/null", libc::O_RDWR)
                            .map_err(|e| Failure::new(Stage::Stdio, e))?,
                    ),
                    Direction::ConnectUnix(path) => Some(connect_unix(path)?),
                    Direction::Pipe => {
                        let (r, w) =
                            fdio::pipe_cloexec().map_err(|e| Failure::new(Stage::Pipe2, e))?;
                        let (child_end, agent_end) = if fd == 0 { (r, w) } else { (w, r) };
                        fdio::set_nonblocking(agent_end.as_fd(), true)
                            .map_err(|e| Failure::new(Stage::Pipe2, e))?;
                        match fd {
                            0 => parts.stdin = Some(agent_end),
                            1 => parts.stdout = Some(agent_end),
                            _ => parts.stderr = Some(agent_end),
                        }
                        Some(child_end)
                    }
                };
            }
        }
    }
    Ok(parts)
}

/// Opens every namespace to join through one pinned `/proc/<target>` directory (so a
/// recycled pid cannot splice two processes' namespaces together), skips those the agent
/// already shares, then `setns`es into the rest in [`Namespace::ENTER_ORDER`]. With no
/// explicit list, every kind is joined and kinds the kernel lacks (ENOENT) are skipped.
fn enter_namespaces(target: i32, wanted: Option<&[Namespace]>) -> Result<(), Failure> {
    let dir_path = CString::new(format!("/proc/{target}")).expect("no NUL in a number");
    let dir = fdio::open(&dir_path, libc::O_PATH | libc::O_DIRECTORY)
        .map_err(|e| Failure::new(Stage::OpenNsProc, e))?;
    let own = fdio::open(c"/proc/self", libc::O_PATH | libc::O_DIRECTORY)
        .map_err(|e| Failure::new(Stage::OpenNsProc, e))?;

    let mut to_join = Vec::new();
    for ns in Namespace::ENTER_ORDER {
        if wanted.is_some_and(|w| !w.contains(&ns)) {
            continue;
        }
        let theirs = match fdio::openat(dir.as_fd(), ns.proc_path(), libc::O_RDONLY) {
            Ok(fd) => fd,
            Err(e) if wanted.is_none() && e.raw_os_error() == Some(libc::ENOENT) => continue,
            Err(e) => return Err(Failure::new(ns.open_stage(), e)),
        };
        let same = match fdio::openat(own.as_fd(), ns.proc_path(), libc::O_RDONLY) {
            Ok(ours) => fdio::dev_ino(ours.as_fd()).ok() == fdio::dev_ino(theirs.as_fd()).ok(),
            Err(_) => false,
        };
        if !same {
            to_join.push((ns, theirs));
        }
    }
    for (ns, fd) in to_join {
        linx_sys::sys::setns(fd.as_fd(), ns.clone_flag() as libc::c_int)
            .map_err(|e| Failure::errno(ns.setns_stage(), e.errno))?;
    }
    Ok(())
}

fn environment(req: &Request) -> Vec<CString> {
    match &req.env {
        Some(env) => env.clone(),
        None => std::env::vars_os()
            .filter_map(|(k, v)| {
                let mut kv = k.into_vec();
                kv.push(b'=');
                kv.extend(v.into_vec());
                CString::new(kv).ok()
            })
            .collect(),
    }
}

/// Creates the workload. In the child this never returns (it parks, then execs or
/// `_exit`s); `close_in_child` are raw descriptors of the agent (its control channel) that
/// the child must not keep.
///
/// `spare_net` is used (and the clone made without `CLONE_NEWNET`) when the request asks
/// for a new network namespace and no new user namespace; otherwise it is dropped.
pub fn launch(
    req: &Request,
    proof: &SingleThreaded,
    close_in_child: &[i32],
    ignored_signals: u64,
    spare_net: Option<SpareNetns>,
) -> Result<Launched, Failure> {
    let stdio = prepare_stdio(&req.stdio)?;
    let (c2p_r, c2p_w) = fdio::pipe_cloexec().map_err(|e| Failure::new(Stage::Pipe2, e))?;
    let (p2c_r, p2c_w) = fdio::pipe_cloexec().map_err(|e| Failure::new(Stage::Pipe2, e))?;

    let (flags, create_stage) = match req.mode {
        Mode::Spawn => {
            let flags = req
                .namespaces
                .iter()
                .flatten()
                .fold(0u64, |acc, ns| acc | ns.clone_flag());
            (flags, Stage::Clone)
        }
        Mode::Enter { target } => {
            enter_namespaces(target, req.namespaces.as_deref())?;
            (0, Stage::Fork)
        }
    };
    let (flags, netns) = match spare_net {
        Some(SpareNetns(fd)) if SpareNetns::fits(flags) => {
            (flags & !(libc::CLONE_NEWNET as u64), Some(fd))
        }
        _ => (flags, None),
    };

    let plan = ChildPlan {
        path: req.argv[0].clone(),
        argv: CStringArray::new(req.argv.clone()),
        envp: CStringArray::new(environment(req)),
        cwd: req.cwd.clone(),
        stdio: stdio.child,
        pty_slave: stdio.pty_slave,
        c2p: c2p_w,
        p2c: p2c_r,
        no_new_privs: req.no_new_privs,
        netns,
        agent_pid: std::process::id(),
        ignored_signals,
    };
    match process::clone3(flags, proof).map_err(|e| Failure::new(create_stage, e))? {
        Forked::Child => {
            // Only the child's ends survive in the child: the agent's ends and its control
            // channel are closed before anything else runs.
            for fd in close_in_child {
                fdio::close_raw(*fd);
            }
            let agent_ends = [
                Some(c2p_r),
                Some(p2c_w),
                stdio.pty,
                stdio.stdin,
                stdio.stdout,
                stdio.stderr,
            ];
            child::run(plan, agent_ends)
        }
        Forked::Parent { pid, pidfd } => {
            drop(plan);
            let mount_ns = if flags & libc::CLONE_NEWNS as u64 != 0 {
                hold_mount_ns(pid)
            } else {
                None
            };
            Ok(Launched {
                pid,
                pidfd,
                c2p: c2p_r,
                p2c: p2c_w,
                pty: stdio.pty,
                stdin: stdio.stdin,
                stdout: stdio.stdout,
                stderr: stdio.stderr,
                mount_ns,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::SpareNetns;

    fn netns_of_this_thread() -> std::path::PathBuf {
        std::fs::read_link("/proc/thread-self/ns/net").unwrap()
    }

    #[test]
    fn a_spare_stands_in_for_clone_newnet_only_without_a_user_namespace() {
        let (net, user, pid) = (
            libc::CLONE_NEWNET as u64,
            libc::CLONE_NEWUSER as u64,
            libc::CLONE_NEWPID as u64,
        );
        assert!(SpareNetns::fits(net));
        assert!(SpareNetns::fits(net | pid));
        assert!(!SpareNetns::fits(pid));
        assert!(!SpareNetns::fits(0));
        assert!(!SpareNetns::fits(net | user));
    }

    // unshare/setns act on the calling thread only, so this test thread is the agent here.
    #[test]
    fn create_leaves_the_caller_in_its_own_namespace() {
        let before = netns_of_this_thread();
        match SpareNetns::create().expect("back in our own namespace") {
            Some(SpareNetns(fd)) => {
                let link = std::fs::read_link(format!(
                    "/proc/thread-self/fd/{}",
                    std::os::fd::AsRawFd::as_raw_fd(&fd)
                ))
                .unwrap();
                assert!(link.to_string_lossy().starts_with("net:["));
                assert_ne!(link, before);
            }
            // Only without CAP_SYS_ADMIN can no namespace be made: spawns clone as before.
            None => assert!(!has_cap_sys_admin()),
        }
        assert_eq!(netns_of_this_thread(), before);
    }

    /// `CAP_SYS_ADMIN` in this thread's effective set, as /proc reports it.
    fn has_cap_sys_admin() -> bool {
        const CAP_SYS_ADMIN: u32 = 21; // linux/capability.h
        let status = std::fs::read_to_string("/proc/thread-self/status").unwrap();
        let eff = status
            .lines()
            .find_map(|l| l.strip_prefix("CapEff:"))
            .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
            .unwrap();
        eff & (1 << CAP_SYS_ADMIN) != 0
    }
}
