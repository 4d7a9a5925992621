//! Pseudo-terminal syscalls (see pty(7), ioctl_tty(2)): a master opened with
//! `posix_openpt`, unlocked, and its peer opened through the master itself
//! (`TIOCGPTPEER`, Linux 4.13) rather than by a `ptsname` path, so the slave is the
//! right one whatever mount namespace or devpts instance later looks at it.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

// asm-generic/ioctls.h
const TIOCSCTTY: libc::c_ulong = 0x540E;
const TIOCGWINSZ: libc::c_ulong = 0x5413;
const TIOCSWINSZ: libc::c_ulong = 0x5414;
const TIOCGPTPEER: libc::c_ulong = 0x5441;

fn cvt(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// `posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK)`: a new master.
pub fn open_master() -> io::Result<OwnedFd> {
    // SAFETY: integer flags only.
    let fd = cvt(unsafe {
        libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC | libc::O_NONBLOCK)
    })?;
    // SAFETY: just opened, owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `unlockpt(master)` (`TIOCSPTLCK` 0): allows the slave to be opened.
pub fn unlock(master: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: plain call on an open descriptor.
    cvt(unsafe { libc::unlockpt(master.as_raw_fd()) }).map(drop)
}

/// `ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC)`: opens the slave.
pub fn open_peer(master: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    // SAFETY: TIOCGPTPEER takes its open flags as an integer argument.
    let fd = cvt(unsafe {
        libc::ioctl(
            master.as_raw_fd(),
            TIOCGPTPEER,
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    })?;
    // SAFETY: just opened, owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `ioctl(fd, TIOCSCTTY, 0)`: makes the terminal the caller's controlling terminal (the
/// caller must be a session leader without one, i.e. right after `setsid`).
pub fn set_controlling(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: TIOCSCTTY takes an integer argument (0 = do not steal).
    cvt(unsafe { libc::ioctl(fd.as_raw_fd(), TIOCSCTTY, 0 as libc::c_int) }).map(drop)
}

/// A terminal's `struct winsize`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WinSize {
    pub rows: u16,
    pub cols: u16,
    pub xpixel: u16,
    pub ypixel: u16,
}

/// `ioctl(fd, TIOCSWINSZ, &ws)`; the foreground process group gets SIGWINCH.
pub fn set_window_size(fd: BorrowedFd<'_>, ws: WinSize) -> io::Result<()> {
    let raw = libc::winsize {
        ws_row: ws.rows,
        ws_col: ws.cols,
        ws_xpixel: ws.xpixel,
        ws_ypixel: ws.ypixel,
    };
    // SAFETY: `raw` is a valid winsize for the duration of the call.
    cvt(unsafe { libc::ioctl(fd.as_raw_fd(), TIOCSWINSZ, &raw as *const libc::winsize) }).map(drop)
}

/// `ioctl(fd, TIOCGWINSZ, &ws)`.
pub fn window_size(fd: BorrowedFd<'_>) -> io::Result<WinSize> {
    // SAFETY: winsize is plain old data.
    let mut raw: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: `raw` is valid for writes for the duration of the call.
    cvt(unsafe { libc::ioctl(fd.as_raw_fd(), TIOCGWINSZ, &mut raw as *mut libc::winsize) })?;
    Ok(WinSize {
        rows: raw.ws_row,
        cols: raw.ws_col,
        xpixel: raw.ws_xpixel,
        ypixel: raw.ws_ypixel,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fdio;
    use std::os::fd::AsFd;

    #[test]
    fn master_and_peer_carry_bytes_and_window_size() {
        let master = open_master().unwrap();
        unlock(master.as_fd()).unwrap();
        let slave = open_peer(master.as_fd()).unwrap();
        assert!(crate::sys::is_cloexec(slave.as_fd()).unwrap());

        let ws = WinSize {
            rows: 24,
            cols: 80,
            xpixel: 1,
            ypixel: 2,
        };
        set_window_size(master.as_fd(), ws).unwrap();
        assert_eq!(window_size(slave.as_fd()).unwrap(), ws);

        // Output processing turns LF into CRLF on the way to the master.
        fdio::write_all(slave.as_fd(), b"hi\n").unwrap();
        let mut fds = [libc::pollfd {
            fd: master.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        fdio::poll(&mut fds, 2000).unwrap();
        let mut buf = [0u8; 16];
        let n = fdio::read(master.as_fd(), &mut buf).unwrap();
        assert_eq!(&buf[..n], b"hi\r\n");

        // With the slave closed the master reads EIO, after any data still queued.
        drop(slave);
        let err = fdio::read(master.as_fd(), &mut buf).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EIO));
    }

    #[test]
    fn locked_master_refuses_its_peer_and_non_ttys_refuse_ioctls() {
        let master = open_master().unwrap();
        // Not unlocked yet: the kernel refuses to open the slave.
        assert!(open_peer(master.as_fd()).is_err());
        let (r, _w) = fdio::pipe_cloexec().unwrap();
        let err = window_size(r.as_fd()).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENOTTY));
        let err = set_controlling(r.as_fd()).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENOTTY));
    }
}
