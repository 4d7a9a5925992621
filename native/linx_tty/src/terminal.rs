//! Terminals Linx opened: the descriptor, and the attributes to put back when it is
//! closed. A [`Terminal`] is what the NIF's handle resource holds, so a terminal left
//! in raw mode by a process that died is restored and closed when the handle is
//! garbage collected.

use linx_sys::pty::{self, WinSize};
use linx_sys::termios::{self, Termios, When};
use linx_sys::{fdio, SysError};
use std::collections::HashSet;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::{Mutex, MutexGuard};

/// Descriptor numbers currently owned by a [`Held`]. 0.2's `restore_and_close` also
/// takes a bare number; checking it here keeps that path from closing a descriptor a
/// handle owns (the handle would later close the number again, by then maybe someone
/// else's file).
static OWNED: Mutex<Option<HashSet<RawFd>>> = Mutex::new(None);

fn owned_set<T>(f: impl FnOnce(&mut HashSet<RawFd>) -> T) -> T {
    let mut guard = match OWNED.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    };
    f(guard.get_or_insert_with(HashSet::new))
}

/// Whether `fd` is owned by a terminal handle.
pub fn owned_by_handle(fd: RawFd) -> bool {
    owned_set(|set| set.contains(&fd))
}

/// An open terminal descriptor, owned.
pub struct Held {
    fd: OwnedFd,
    /// Attributes to restore before closing (the state found when raw mode was set).
    restore: Option<Termios>,
    /// O_NONBLOCK was turned on for a description shared with others: turn it off
    /// before closing.
    restore_blocking: bool,
}

impl Held {
    fn new(fd: OwnedFd, restore: Option<Termios>, restore_blocking: bool) -> Held {
        owned_set(|set| set.insert(fd.as_raw_fd()));
        Held {
            fd,
            restore,
            restore_blocking,
        }
    }

    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Restores `with` (or the attributes it was opened with), then closes. EBADF counts
    /// as success: there is nothing left to restore.
    pub fn restore_and_close(mut self, with: Option<&Termios>) -> Result<(), SysError> {
        let target = with.copied().or(self.restore.take());
        self.restore = None;
        if self.restore_blocking {
            let _ = fdio::set_nonblocking(self.fd.as_fd(), false);
            self.restore_blocking = false;
        }
        let result = match target {
            Some(t) => match termios::set(self.fd.as_fd(), When::Now, &t) {
                Ok(()) => Ok(()),
                Err(e) if e.raw_os_error() == Some(libc::EBADF) => Ok(()),
                Err(e) => Err(sys_err("tcsetattr", &e)),
            },
            None => Ok(()),
        };
        drop(self);
        result
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        owned_set(|set| set.remove(&self.fd.as_raw_fd()));
        if self.restore_blocking {
            let _ = fdio::set_nonblocking(self.fd.as_fd(), false);
        }
        if let Some(t) = self.restore.take() {
            let _ = termios::set(self.fd.as_fd(), When::Now, &t);
        }
        // The descriptor closes when `fd` drops.
    }
}

/// A terminal owned by a handle; empty once closed.
pub struct Terminal {
    held: Mutex<Option<Held>>,
}

impl Terminal {
    pub fn new(held: Held) -> Self {
        Terminal {
            held: Mutex::new(Some(held)),
        }
    }

    // A poisoned lock only means a panic elsewhere while it was held; the Option inside
    // is still sound.
    fn lock(&self) -> MutexGuard<'_, Option<Held>> {
        match self.held.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// The descriptor number while open.
    pub fn raw_fd(&self) -> Option<RawFd> {
        self.lock().as_ref().map(Held::raw_fd)
    }

    /// Takes the terminal out (the handle is closed from then on).
    pub fn take(&self) -> Option<Held> {
        self.lock().take()
    }

    /// Runs `f` on the descriptor while the handle holds it.
    pub fn with_fd<T>(&self, f: impl FnOnce(BorrowedFd<'_>) -> T) -> Option<T> {
        self.lock().as_ref().map(|h| f(h.fd()))
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let held = match self.held.get_mut() {
            Ok(h) => h.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        if let Some(held) = held {
            // Garbage collection must not wait, and the last close of a terminal may
            // wait for its output to drain (serial lines): restore and close on a
            // short-lived thread. If no thread can be had, the failed spawn drops the
            // closure, and the terminal with it, right here.
            let _ = std::thread::Builder::new()
                .name("linx_tty_close".into())
                .spawn(move || drop(held));
        }
    }
}

fn sys_err(stage: &'static str, e: &std::io::Error) -> SysError {
    SysError::new(stage, e.raw_os_error().unwrap_or(libc::EIO))
}

/// Saves the attributes of `fd`, switches it to raw mode, and reads them back to check
/// the kernel took the whole request (tcsetattr succeeds when any part applied).
/// Returns the saved attributes.
pub fn make_raw(fd: BorrowedFd<'_>) -> Result<Termios, SysError> {
    let saved = termios::get(fd).map_err(|e| sys_err("tcgetattr", &e))?;
    let mut raw = saved;
    raw.make_raw();
    termios::set(fd, When::Now, &raw).map_err(|e| sys_err("tcsetattr", &e))?;
    match termios::get(fd) {
        Ok(now) if now == raw => Ok(saved),
        Ok(_) => {
            let _ = termios::set(fd, When::Now, &saved);
            Err(SysError::new("tcsetattr", libc::EINVAL))
        }
        Err(e) => Err(sys_err("tcgetattr", &e)),
    }
}

/// Opens `/dev/tty` (the caller's controlling terminal) read-write, non-blocking,
/// close-on-exec and without becoming a controlling terminal, and puts it in raw mode.
/// No controlling terminal: `open` ENXIO.
pub fn open_controlling_raw() -> Result<(Held, Termios), SysError> {
    let fd = fdio::open(
        c"/dev/tty",
        libc::O_RDWR | libc::O_NOCTTY | libc::O_NONBLOCK,
    )
    .map_err(|e| sys_err("open", &e))?;
    let saved = make_raw(fd.as_fd())?;
    Ok((Held::new(fd, Some(saved), false), saved))
}

/// Opens a private, non-blocking description of the terminal behind `fd` (through
/// `/proc/self/fd`; a pty master, which cannot be re-opened by path, or a terminal that
/// refuses the re-open is duplicated instead, and its shared O_NONBLOCK is undone on
/// close) and puts it in raw mode. A descriptor that is not a terminal: `tcgetattr`
/// ENOTTY.
pub fn open_fd_raw(fd: BorrowedFd<'_>) -> Result<(Held, Termios), SysError> {
    // Refuse non-terminals before opening anything.
    termios::get(fd).map_err(|e| sys_err("tcgetattr", &e))?;
    let dev = termios::char_device(fd).map_err(|e| sys_err("open", &e))?;
    let reopened = match dev {
        Some(rdev) if !termios::is_ptmx(rdev) => {
            termios::reopen(fd, libc::O_RDWR | libc::O_NONBLOCK).ok()
        }
        _ => None,
    };
    let (own, restore_blocking) = match reopened {
        Some(own) => (own, false),
        None => {
            let own = termios::dup_cloexec(fd).map_err(|e| sys_err("open", &e))?;
            let was_nonblocking =
                termios::is_nonblocking(own.as_fd()).map_err(|e| sys_err("open", &e))?;
            if !was_nonblocking {
                fdio::set_nonblocking(own.as_fd(), true).map_err(|e| sys_err("open", &e))?;
            }
            (own, !was_nonblocking)
        }
    };
    let mut held = Held::new(own, None, restore_blocking);
    let saved = make_raw(held.fd())?;
    held.restore = Some(saved);
    Ok((held, saved))
}

/// A new pseudo-terminal: the master (non-blocking) and its slave (blocking), both
/// close-on-exec, and the slave's path.
pub struct Pty {
    pub master: Held,
    pub slave: Held,
    pub path: String,
}

pub fn open_pty() -> Result<Pty, SysError> {
    let master = pty::open_master().map_err(|e| sys_err("posix_openpt", &e))?;
    pty::unlock(master.as_fd()).map_err(|e| sys_err("unlockpt", &e))?;
    let n = termios::pty_number(master.as_fd()).map_err(|e| sys_err("ioctl", &e))?;
    let slave = pty::open_peer(master.as_fd()).map_err(|e| sys_err("open", &e))?;
    Ok(Pty {
        master: Held::new(master, None, false),
        slave: Held::new(slave, None, false),
        path: format!("/dev/pts/{n}"),
    })
}

/// `TIOCGWINSZ` (stage `ioctl`).
pub fn window_size(fd: BorrowedFd<'_>) -> Result<WinSize, SysError> {
    pty::window_size(fd).map_err(|e| sys_err("ioctl", &e))
}

/// `TIOCSWINSZ` (stage `ioctl`).
pub fn set_window_size(fd: BorrowedFd<'_>, ws: WinSize) -> Result<(), SysError> {
    pty::set_window_size(fd, ws).map_err(|e| sys_err("ioctl", &e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_pty_gives_a_named_slave_and_cloexec_ends() {
        let p = open_pty().unwrap();
        assert!(p.path.starts_with("/dev/pts/"));
        assert!(linx_sys::sys::is_cloexec(p.master.fd()).unwrap());
        assert!(linx_sys::sys::is_cloexec(p.slave.fd()).unwrap());
        assert!(termios::is_nonblocking(p.master.fd()).unwrap());
        assert!(!termios::is_nonblocking(p.slave.fd()).unwrap());
        let md = termios::char_device(p.master.fd()).unwrap().unwrap();
        assert!(termios::is_ptmx(md));
    }

    #[test]
    fn raw_on_a_reopened_slave_is_undone_on_restore_and_close() {
        let p = open_pty().unwrap();
        let before = termios::get(p.slave.fd()).unwrap();
        let (held, saved) = open_fd_raw(p.slave.fd()).unwrap();
        assert_eq!(saved, before);
        // Attributes belong to the terminal, so the original descriptor sees raw mode.
        let (_, _, _, lflag) = termios::get(p.slave.fd()).unwrap().flags();
        assert_eq!(lflag & libc::ICANON, 0);
        // A private description: the copy is non-blocking, the original is not.
        assert!(termios::is_nonblocking(held.fd()).unwrap());
        assert!(!termios::is_nonblocking(p.slave.fd()).unwrap());
        held.restore_and_close(None).unwrap();
        assert_eq!(termios::get(p.slave.fd()).unwrap(), before);
    }

    #[test]
    fn dropping_a_terminal_restores_it() {
        let p = open_pty().unwrap();
        let before = termios::get(p.slave.fd()).unwrap();
        let (held, _) = open_fd_raw(p.slave.fd()).unwrap();
        let t = Terminal::new(held);
        assert!(t.raw_fd().is_some());
        drop(t);
        // The restore runs on a helper thread.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while termios::get(p.slave.fd()).unwrap() != before {
            assert!(std::time::Instant::now() < deadline, "not restored");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    #[test]
    fn a_master_is_duplicated_and_its_blocking_mode_kept() {
        let p = open_pty().unwrap();
        // Make the master blocking to see the duplicate path restore it.
        fdio::set_nonblocking(p.master.fd(), false).unwrap();
        let (held, _) = open_fd_raw(p.master.fd()).unwrap();
        assert!(termios::is_nonblocking(p.master.fd()).unwrap());
        held.restore_and_close(None).unwrap();
        assert!(!termios::is_nonblocking(p.master.fd()).unwrap());
    }

    #[test]
    fn non_terminals_and_bad_descriptors_name_their_stage() {
        let (r, _w) = fdio::pipe_cloexec().unwrap();
        assert_eq!(
            open_fd_raw(r.as_fd()).err(),
            Some(SysError::new("tcgetattr", libc::ENOTTY))
        );
        assert_eq!(
            window_size(r.as_fd()).err(),
            Some(SysError::new("ioctl", libc::ENOTTY))
        );
        assert_eq!(
            make_raw(r.as_fd()).err(),
            Some(SysError::new("tcgetattr", libc::ENOTTY))
        );
    }

    #[test]
    fn handles_register_their_descriptors_until_closed() {
        let p = open_pty().unwrap();
        let (m, sl) = (p.master.raw_fd(), p.slave.raw_fd());
        assert!(owned_by_handle(m) && owned_by_handle(sl));
        let (held, _) = open_fd_raw(p.slave.fd()).unwrap();
        let copy = held.raw_fd();
        assert!(owned_by_handle(copy));
        held.restore_and_close(None).unwrap();
        // (Whether `copy` is free now cannot be asserted: a test running in parallel may
        // already have reused the number.)
        drop(p);
        let (r, _w) = fdio::pipe_cloexec().unwrap();
        assert!(!owned_by_handle(r.as_raw_fd()));
    }

    #[test]
    fn window_size_round_trips_through_the_slave() {
        let p = open_pty().unwrap();
        let ws = WinSize {
            rows: 33,
            cols: 101,
            xpixel: 7,
            ypixel: 9,
        };
        set_window_size(p.slave.fd(), ws).unwrap();
        assert_eq!(window_size(p.master.fd()).unwrap(), ws);
    }
}
