//! File-descriptor syscalls for the process agent: pipes, poll, read/write on borrowed
//! descriptors, `dup2`, `close_range`, `openat`.
//!
//! Like [`crate::sys`], every `unsafe` block here is one libc call whose pointer
//! arguments are valid for the duration of the call; results are checked and returned as
//! `std::io::Error` (whose `raw_os_error()` is the kernel's errno).
#![allow(unsafe_code)]

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

fn cvt(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

fn cvt_size(rc: libc::ssize_t) -> io::Result<usize> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc as usize)
    }
}

/// `pipe2(O_CLOEXEC)`: returns `(read_end, write_end)`.
pub fn pipe_cloexec() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [-1 as libc::c_int; 2];
    // SAFETY: `fds` is a valid, writable array of two ints, as pipe2(2) requires.
    cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    // SAFETY: both descriptors were just created by pipe2 and are owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Sets or clears `O_NONBLOCK` on the open file description behind `fd`.
pub fn set_nonblocking(fd: BorrowedFd<'_>, on: bool) -> io::Result<()> {
    // SAFETY: fcntl(F_GETFL) on a borrowed, open descriptor.
    let flags = cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) })?;
    let flags = if on {
        flags | libc::O_NONBLOCK
    } else {
        flags & !libc::O_NONBLOCK
    };
    // SAFETY: fcntl(F_SETFL) with integer flags on a borrowed, open descriptor.
    cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags) })?;
    Ok(())
}

/// Whether `fd` is an open descriptor of this process (`fcntl(F_GETFD)` succeeds).
pub fn is_open(fd: RawFd) -> bool {
    // SAFETY: F_GETFD on an arbitrary number only reads the descriptor table.
    fd >= 0 && unsafe { libc::fcntl(fd, libc::F_GETFD) } >= 0
}

/// Takes ownership of a descriptor inherited from the parent process (the agent's fd 3
/// and 4 from the BEAM) and sets `FD_CLOEXEC` on it. Fails with EBADF when it is not open.
///
/// Call it at most once per descriptor number: the returned `OwnedFd` closes it on drop.
pub fn adopt_inherited(fd: RawFd) -> io::Result<OwnedFd> {
    if !is_open(fd) {
        return Err(io::Error::from_raw_os_error(libc::EBADF));
    }
    // SAFETY: the descriptor is open (checked above) and, per the contract, not yet owned
    // by any other object in this process.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    crate::sys::set_cloexec(std::os::fd::AsFd::as_fd(&owned))
        .map_err(|e| io::Error::from_raw_os_error(e.errno))?;
    Ok(owned)
}

/// Makes sure descriptors 0, 1 and 2 are open, pointing any closed one at `/dev/null`.
/// A process started with a closed stdin would otherwise get a pipe or a socket as fd 0
/// from its next `pipe2`/`socket`, and a later `dup2` onto 0 would clobber it.
pub fn ensure_stdio_open() -> io::Result<()> {
    for fd in 0..3 {
        if !is_open(fd) {
            // SAFETY: the path is a NUL-terminated literal.
            let got = cvt(unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) })?;
            if got != fd {
                // open(2) returns the lowest free number, so this only happens when a lower
                // descriptor was closed concurrently, which a single-threaded caller rules out.
                // SAFETY: `got` was just opened by us and is not owned by anything else.
                unsafe { libc::close(got) };
                return Err(io::Error::from_raw_os_error(libc::EBADF));
            }
        }
    }
    Ok(())
}

/// `poll(fds, timeout_ms)`; returns the number of ready entries.
pub fn poll(fds: &mut [libc::pollfd], timeout_ms: libc::c_int) -> io::Result<usize> {
    // SAFETY: `fds` is a valid, writable slice of pollfd and its exact length is passed.
    let rc = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
    cvt(rc).map(|n| n as usize)
}

/// `read(fd, buf)`.
pub fn read(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes.
    cvt_size(unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) })
}

/// `write(fd, buf)`; returns how many bytes the kernel took.
pub fn write(fd: BorrowedFd<'_>, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for reads of `buf.len()` bytes.
    cvt_size(unsafe { libc::write(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len()) })
}

/// Writes all of `buf`, retrying on EINTR and short writes (for blocking descriptors).
pub fn write_all(fd: BorrowedFd<'_>, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        match write(fd, buf) {
            Ok(0) => return Err(io::Error::from_raw_os_error(libc::EIO)),
            Ok(n) => buf = &buf[n..],
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Fills all of `buf` from a blocking descriptor. `Ok(false)` means end of file was hit
/// before the first byte; end of file in the middle is `UnexpectedEof`.
pub fn read_exact_or_eof(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<bool> {
    let mut got = 0;
    while got < buf.len() {
        match read(fd, &mut buf[got..]) {
            Ok(0) if got == 0 => return Ok(false),
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => got += n,
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// `dup2(src, target)`: the copy at `target` does not have `FD_CLOEXEC` set.
pub fn dup2(src: BorrowedFd<'_>, target: RawFd) -> io::Result<()> {
    loop {
        // SAFETY: plain syscall on integer descriptors; `src` is open for the call.
        match cvt(unsafe { libc::dup2(src.as_raw_fd(), target) }) {
            Ok(_) => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => {}
            Err(e) => return Err(e),
        }
    }
}

/// Closes a raw descriptor number this process does not hold as an `OwnedFd` (the
/// BEAM's control pipes, inherited by a freshly cloned child). EBADF is ignored.
pub fn close_raw(fd: RawFd) {
    // SAFETY: closing a number nothing in this process owns; at worst EBADF.
    unsafe { libc::close(fd) };
}

/// `close_range(first, ~0U, CLOSE_RANGE_CLOEXEC)` (Linux 5.11): marks every descriptor
/// from `first` up close-on-exec, so a workload inherits nothing but its stdio.
pub fn cloexec_from(first: RawFd) -> io::Result<()> {
    // SAFETY: plain syscall with integer arguments (linux/close_range.h).
    let rc = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first as libc::c_uint,
            libc::c_uint::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `open(path, flags | O_CLOEXEC)`.
pub fn open(path: &CStr, flags: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: `path` is NUL-terminated and valid for the call.
    let fd = cvt(unsafe { libc::open(path.as_ptr(), flags | libc::O_CLOEXEC) })?;
    // SAFETY: `fd` was just returned by open(2) and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `openat(dir, path, flags | O_CLOEXEC)`: resolves `path` relative to an already open
/// directory, e.g. `ns/net` under a pinned `/proc/<pid>` directory.
pub fn openat(dir: BorrowedFd<'_>, path: &CStr, flags: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: `path` is NUL-terminated and `dir` is an open descriptor for the call.
    let fd = cvt(unsafe { libc::openat(dir.as_raw_fd(), path.as_ptr(), flags | libc::O_CLOEXEC) })?;
    // SAFETY: `fd` was just returned by openat(2) and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `(st_dev, st_ino)` of an open descriptor: two namespace files are the same namespace
/// exactly when these match.
pub fn dev_ino(fd: BorrowedFd<'_>) -> io::Result<(u64, u64)> {
    // SAFETY: `stat` is plain old data; all-zero is a valid value.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is valid for writes for the duration of the call.
    cvt(unsafe { libc::fstat(fd.as_raw_fd(), &mut st) })?;
    Ok((st.st_dev, st.st_ino))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn pipe_round_trip_and_nonblocking_eagain() {
        let (r, w) = pipe_cloexec().unwrap();
        assert!(crate::sys::is_cloexec(r.as_fd()).unwrap());
        write_all(w.as_fd(), b"hello").unwrap();
        let mut buf = [0u8; 5];
        assert!(read_exact_or_eof(r.as_fd(), &mut buf).unwrap());
        assert_eq!(&buf, b"hello");
        set_nonblocking(r.as_fd(), true).unwrap();
        let err = read(r.as_fd(), &mut buf).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EAGAIN));
        drop(w);
        assert_eq!(read(r.as_fd(), &mut buf).unwrap(), 0);
    }

    #[test]
    fn eof_before_and_inside_a_record() {
        let (r, w) = pipe_cloexec().unwrap();
        drop(w);
        let mut buf = [0u8; 4];
        assert!(!read_exact_or_eof(r.as_fd(), &mut buf).unwrap());

        let (r, w) = pipe_cloexec().unwrap();
        write_all(w.as_fd(), b"ab").unwrap();
        drop(w);
        let err = read_exact_or_eof(r.as_fd(), &mut buf).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn poll_reports_readable_and_hangup() {
        let (r, w) = pipe_cloexec().unwrap();
        let mut fds = [libc::pollfd {
            fd: r.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        assert_eq!(poll(&mut fds, 0).unwrap(), 0);
        write_all(w.as_fd(), b"x").unwrap();
        assert_eq!(poll(&mut fds, 0).unwrap(), 1);
        assert!(fds[0].revents & libc::POLLIN != 0);
        drop(w);
        fds[0].revents = 0;
        poll(&mut fds, 0).unwrap();
        assert!(fds[0].revents & libc::POLLHUP != 0);
    }

    #[test]
    fn namespace_files_compare_by_dev_and_inode() {
        let a = open(c"/proc/self/ns/net", libc::O_RDONLY).unwrap();
        let b = open(c"/proc/thread-self/ns/net", libc::O_RDONLY).unwrap();
        let c = open(c"/proc/self/ns/uts", libc::O_RDONLY).unwrap();
        assert_eq!(dev_ino(a.as_fd()).unwrap(), dev_ino(b.as_fd()).unwrap());
        assert_ne!(dev_ino(a.as_fd()).unwrap(), dev_ino(c.as_fd()).unwrap());
    }

    #[test]
    fn openat_resolves_relative_to_a_pinned_directory() {
        let dir = open(c"/proc/self", libc::O_PATH | libc::O_DIRECTORY).unwrap();
        let ns = openat(dir.as_fd(), c"ns/net", libc::O_RDONLY).unwrap();
        assert!(crate::sys::is_cloexec(ns.as_fd()).unwrap());
        let err = openat(dir.as_fd(), c"ns/nonexistent", libc::O_RDONLY).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENOENT));
    }

    #[test]
    fn adopt_refuses_a_closed_descriptor() {
        let err = adopt_inherited(1_000_000).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EBADF));
        assert!(!is_open(-1));
    }

    #[test]
    fn dup2_copies_without_cloexec() {
        let (r, w) = pipe_cloexec().unwrap();
        // Find a free high number to duplicate onto.
        let target = 900;
        assert!(!is_open(target));
        dup2(w.as_fd(), target).unwrap();
        assert!(is_open(target));
        // SAFETY (test): `target` was just created by dup2 and is owned by nobody else.
        let copy = unsafe { OwnedFd::from_raw_fd(target) };
        assert!(!crate::sys::is_cloexec(copy.as_fd()).unwrap());
        drop(copy);
        drop(r);
    }
}
