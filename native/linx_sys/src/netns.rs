//! Running work inside another namespace without moving any BEAM thread.
//!
//! `setns(2)` changes the namespace of the calling *thread*. A NIF runs on a scheduler
//! thread shared by thousands of Erlang processes, so it must never call `setns` itself.
//! Instead a fresh `std::thread` opens the namespace file, enters it, does the work (for
//! a netlink socket: `socket(2)`, which binds the socket to that netns for its whole
//! life) and exits, taking its namespace membership with it.

use crate::{sys, SysError};
use std::ffi::CString;
use std::os::fd::AsFd;

/// Namespace kinds accepted by [`run_in_namespace`] (the `CLONE_NEW*` flag for `setns`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NsKind {
    Net,
    Mnt,
    Uts,
    Ipc,
}

impl NsKind {
    fn clone_flag(self) -> libc::c_int {
        match self {
            NsKind::Net => libc::CLONE_NEWNET,
            NsKind::Mnt => libc::CLONE_NEWNS,
            NsKind::Uts => libc::CLONE_NEWUTS,
            NsKind::Ipc => libc::CLONE_NEWIPC,
        }
    }
}

/// Opens `path` (e.g. `/proc/PID/ns/net` or `/run/netns/NAME`), enters it on a throwaway
/// thread, runs `work` there and returns its result. Failure stages: `"open"` (bad path,
/// including an embedded NUL: EINVAL), `"setns"` (not a namespace of that kind, or no
/// privilege), `"thread"` (the thread could not be spawned), and whatever `work` reports.
pub fn run_in_namespace<T, F>(path: &[u8], kind: NsKind, work: F) -> Result<T, SysError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, SysError> + Send + 'static,
{
    let path = CString::new(path).map_err(|_| SysError::new("open", libc::EINVAL))?;
    let handle = std::thread::Builder::new()
        .name("linx_setns".into())
        .stack_size(64 * 1024)
        .spawn(move || {
            let ns = sys::open_readonly(&path, "open")?;
            sys::setns(ns.as_fd(), kind.clone_flag())?;
            drop(ns);
            work()
        })
        .map_err(|e| SysError::new("thread", e.raw_os_error().unwrap_or(libc::EAGAIN)))?;
    handle
        .join()
        .unwrap_or(Err(SysError::new("thread", libc::EFAULT)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn own_netns() -> std::path::PathBuf {
        std::fs::read_link("/proc/thread-self/ns/net").unwrap()
    }

    #[test]
    fn work_runs_and_caller_thread_keeps_its_namespace() {
        let before = own_netns();
        let inode = run_in_namespace(b"/proc/self/ns/net", NsKind::Net, || {
            Ok(std::fs::read_link("/proc/thread-self/ns/net").unwrap())
        });
        // Entering our own netns is allowed when we hold CAP_SYS_ADMIN; otherwise the
        // kernel's EPERM must come back as a setns-stage error.
        match inode {
            Ok(link) => assert_eq!(link, before),
            Err(e) => assert_eq!(e, SysError::new("setns", libc::EPERM)),
        }
        assert_eq!(own_netns(), before);
    }

    #[test]
    fn missing_path_is_an_open_error() {
        let err = run_in_namespace(b"/nonexistent/ns", NsKind::Net, || Ok(())).unwrap_err();
        assert_eq!(err, SysError::new("open", libc::ENOENT));
    }

    #[test]
    fn embedded_nul_is_rejected_before_any_syscall() {
        let err = run_in_namespace(b"/proc/self\0/ns/net", NsKind::Net, || Ok(())).unwrap_err();
        assert_eq!(err, SysError::new("open", libc::EINVAL));
    }

    #[test]
    fn non_namespace_file_is_a_setns_error() {
        let err = run_in_namespace(b"/proc/self/status", NsKind::Net, || Ok(())).unwrap_err();
        assert_eq!(err, SysError::new("setns", libc::EINVAL));
    }

    #[test]
    fn work_errors_pass_through() {
        let err = run_in_namespace(b"/proc/self/ns/net", NsKind::Net, || {
            Err::<(), _>(SysError::new("socket", libc::EAFNOSUPPORT))
        })
        .unwrap_err();
        assert!(err.stage == "socket" || err.stage == "setns");
    }
}
