//! Terminal attributes and terminal identity (see termios(3), ioctl_tty(2)), for the
//! `linx_tty` NIF: `tcgetattr`/`tcsetattr`, `cfmakeraw`, the pty number of a master,
//! the device number behind a descriptor, and re-opening a terminal through
//! `/proc/self/fd` to get a private open file description.
//!
//! Like [`crate::sys`], every `unsafe` block is one libc call whose pointer arguments
//! are valid for the duration of the call; results come back as `std::io::Error`, whose
//! `raw_os_error()` is the kernel's errno.
#![allow(unsafe_code)]

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

// asm-generic/ioctls.h: TIOCGPTN is _IOR('T', 0x30, unsigned int), TIOCGDEV is
// _IOR('T', 0x32, unsigned int).
const TIOCGPTN: libc::c_ulong = 0x8004_5430;
const TIOCGDEV: libc::c_ulong = 0x8004_5432;

/// `tcsetattr` actions (asm-generic/termbits.h).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// `TCSANOW`: at once.
    Now,
    /// `TCSADRAIN`: after pending output has been transmitted.
    Drain,
    /// `TCSAFLUSH`: after pending output, discarding unread input.
    Flush,
}

impl When {
    fn raw(self) -> libc::c_int {
        match self {
            When::Now => libc::TCSANOW,
            When::Drain => libc::TCSADRAIN,
            When::Flush => libc::TCSAFLUSH,
        }
    }
}

fn cvt(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// A terminal's `struct termios`, as glibc defines it (asm-generic/termbits.h plus the
/// two speed words glibc appends).
#[derive(Clone, Copy)]
pub struct Termios(libc::termios);

/// Size of the byte form: four flag words, the line discipline, `NCCS` control
/// characters, padding to a 4-byte boundary, and the two speed words, exactly as
/// `sizeof(struct termios)` in C.
pub const TERMIOS_BYTES: usize = std::mem::size_of::<libc::termios>();

impl std::fmt::Debug for Termios {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Termios")
            .field("iflag", &format_args!("{:#o}", self.0.c_iflag))
            .field("oflag", &format_args!("{:#o}", self.0.c_oflag))
            .field("cflag", &format_args!("{:#o}", self.0.c_cflag))
            .field("lflag", &format_args!("{:#o}", self.0.c_lflag))
            .finish_non_exhaustive()
    }
}

impl PartialEq for Termios {
    fn eq(&self, other: &Self) -> bool {
        self.to_bytes() == other.to_bytes()
    }
}

impl Eq for Termios {}

impl Termios {
    /// The input, output, control and local mode words.
    pub fn flags(&self) -> (u32, u32, u32, u32) {
        (
            self.0.c_iflag,
            self.0.c_oflag,
            self.0.c_cflag,
            self.0.c_lflag,
        )
    }

    /// The control character at index `i` (`libc::VMIN`, `libc::VINTR`, ...).
    pub fn cc(&self, i: usize) -> Option<u8> {
        self.0.c_cc.get(i).copied()
    }

    /// `cfmakeraw(3)`: no input processing, no echo, no signals from keys, 8-bit
    /// characters, no output processing, reads return after one byte (VMIN 1, VTIME 0).
    pub fn make_raw(&mut self) {
        // SAFETY: `self.0` is a valid, initialised termios that outlives the call;
        // cfmakeraw only rewrites its fields.
        unsafe { libc::cfmakeraw(&mut self.0) };
    }

    /// The C struct as bytes (native endianness, `TERMIOS_BYTES` long). Built field by
    /// field so no padding byte is ever read uninitialised.
    pub fn to_bytes(&self) -> Vec<u8> {
        let t = &self.0;
        let mut out = Vec::with_capacity(TERMIOS_BYTES);
        for word in [t.c_iflag, t.c_oflag, t.c_cflag, t.c_lflag] {
            out.extend_from_slice(&word.to_ne_bytes());
        }
        out.push(t.c_line);
        out.extend_from_slice(&t.c_cc);
        while out.len() % 4 != 0 {
            out.push(0);
        }
        out.extend_from_slice(&t.c_ispeed.to_ne_bytes());
        out.extend_from_slice(&t.c_ospeed.to_ne_bytes());
        out
    }

    /// The inverse of [`Termios::to_bytes`]; `None` unless `bytes` is exactly
    /// `TERMIOS_BYTES` long.
    pub fn from_bytes(bytes: &[u8]) -> Option<Termios> {
        if bytes.len() != TERMIOS_BYTES {
            return None;
        }
        let word = |at: usize| -> Option<u32> {
            let chunk: [u8; 4] = bytes.get(at..at + 4)?.try_into().ok()?;
            Some(u32::from_ne_bytes(chunk))
        };
        // SAFETY: termios is plain old data; all-zero is a valid value, and every field
        // is overwritten below.
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        t.c_iflag = word(0)?;
        t.c_oflag = word(4)?;
        t.c_cflag = word(8)?;
        t.c_lflag = word(12)?;
        t.c_line = *bytes.get(16)?;
        let ncc = t.c_cc.len();
        t.c_cc.copy_from_slice(bytes.get(17..17 + ncc)?);
        let speeds = (17 + ncc).div_ceil(4) * 4;
        t.c_ispeed = word(speeds)?;
        t.c_ospeed = word(speeds + 4)?;
        Some(Termios(t))
    }
}

/// `tcgetattr(fd)`. ENOTTY for a descriptor that is not a terminal.
pub fn get(fd: BorrowedFd<'_>) -> io::Result<Termios> {
    // SAFETY: termios is plain old data; all-zero is a valid value.
    let mut t: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: `t` is valid for writes for the duration of the call.
    cvt(unsafe { libc::tcgetattr(fd.as_raw_fd(), &mut t) })?;
    Ok(Termios(t))
}

/// `tcsetattr(fd, when, t)`. Note that the kernel reports success when it applied any
/// part of the request; callers that care read the attributes back.
pub fn set(fd: BorrowedFd<'_>, when: When, t: &Termios) -> io::Result<()> {
    // SAFETY: `t.0` is a valid termios for the duration of the call.
    cvt(unsafe { libc::tcsetattr(fd.as_raw_fd(), when.raw(), &t.0) }).map(drop)
}

/// `ioctl(master, TIOCGPTN, &n)`: the number `n` of a pty master's slave, `/dev/pts/n`
/// in the devpts instance the master came from.
pub fn pty_number(master: BorrowedFd<'_>) -> io::Result<u32> {
    let mut n: libc::c_uint = 0;
    // SAFETY: TIOCGPTN writes one unsigned int through the pointer, which is valid.
    cvt(unsafe { libc::ioctl(master.as_raw_fd(), TIOCGPTN, &mut n as *mut libc::c_uint) })?;
    Ok(n)
}

/// The device number (`st_rdev`) of the character device behind `fd`, or `None` when
/// `fd` is not a character device. Two descriptors are the same terminal exactly when
/// both are character devices with the same `st_rdev`.
pub fn char_device(fd: BorrowedFd<'_>) -> io::Result<Option<u64>> {
    // SAFETY: `stat` is plain old data; all-zero is a valid value.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is valid for writes for the duration of the call.
    cvt(unsafe { libc::fstat(fd.as_raw_fd(), &mut st) })?;
    if st.st_mode & libc::S_IFMT == libc::S_IFCHR {
        Ok(Some(st.st_rdev))
    } else {
        Ok(None)
    }
}

/// `ioctl(fd, TIOCGDEV)` (Linux 3.6): the device number of the terminal behind `fd`,
/// in the kernel's `new_encode_dev` form. Unlike `fstat`, this sees through `/dev/tty`
/// (whose inode is the generic 5:0 device) to the real terminal; a pty master reports
/// its slave.
pub fn tty_device(fd: BorrowedFd<'_>) -> io::Result<u32> {
    let mut dev: libc::c_uint = 0;
    // SAFETY: TIOCGDEV writes one unsigned int through the pointer, which is valid.
    cvt(unsafe { libc::ioctl(fd.as_raw_fd(), TIOCGDEV, &mut dev as *mut libc::c_uint) })?;
    Ok(dev)
}

/// `makedev(5, 2)`: `/dev/ptmx`. Every pty master has this device number, so it cannot
/// be re-opened by path (that would allocate a new pty).
pub fn is_ptmx(rdev: u64) -> bool {
    libc::major(rdev) == 5 && libc::minor(rdev) == 2
}

/// Opens the file behind `fd` again through `/proc/self/fd/<fd>` with
/// `flags | O_CLOEXEC | O_NOCTTY`. For a terminal this is a new open file description:
/// its `O_NONBLOCK` is private, unlike a `dup(2)`'s.
pub fn reopen(fd: BorrowedFd<'_>, flags: libc::c_int) -> io::Result<OwnedFd> {
    let path = CString::new(format!("/proc/self/fd/{}", fd.as_raw_fd()))
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: `path` is NUL-terminated and valid for the call.
    let raw = cvt(unsafe { libc::open(path.as_ptr(), flags | libc::O_CLOEXEC | libc::O_NOCTTY) })?;
    // SAFETY: `raw` was just returned by open(2) and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// `fcntl(fd, F_DUPFD_CLOEXEC, 0)`: a close-on-exec copy sharing the open file
/// description (and so its status flags).
pub fn dup_cloexec(fd: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    // SAFETY: plain fcntl on a borrowed, open descriptor.
    let raw = cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 0) })?;
    // SAFETY: `raw` was just created by fcntl and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// Whether `O_NONBLOCK` is set on the open file description behind `fd`.
pub fn is_nonblocking(fd: BorrowedFd<'_>) -> io::Result<bool> {
    // SAFETY: fcntl(F_GETFL) on a borrowed, open descriptor.
    let flags = cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) })?;
    Ok(flags & libc::O_NONBLOCK != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{fdio, pty};
    use std::os::fd::AsFd;

    fn pair() -> (OwnedFd, OwnedFd) {
        let master = pty::open_master().unwrap();
        pty::unlock(master.as_fd()).unwrap();
        let slave = pty::open_peer(master.as_fd()).unwrap();
        (master, slave)
    }

    #[test]
    fn bytes_round_trip_and_have_the_c_size() {
        let (_m, slave) = pair();
        let t = get(slave.as_fd()).unwrap();
        let bytes = t.to_bytes();
        assert_eq!(bytes.len(), TERMIOS_BYTES);
        assert_eq!(Termios::from_bytes(&bytes).unwrap(), t);
        assert!(Termios::from_bytes(&bytes[1..]).is_none());
        assert!(Termios::from_bytes(&[]).is_none());
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(Termios::from_bytes(&longer).is_none());
    }

    #[test]
    fn raw_mode_changes_the_line_discipline_and_restores() {
        let (_m, slave) = pair();
        let cooked = get(slave.as_fd()).unwrap();
        let (_, _, _, lflag) = cooked.flags();
        assert!(lflag & libc::ICANON != 0, "a new pty starts canonical");
        assert!(lflag & libc::ECHO != 0);

        let mut raw = cooked;
        raw.make_raw();
        set(slave.as_fd(), When::Now, &raw).unwrap();
        let now = get(slave.as_fd()).unwrap();
        let (iflag, oflag, cflag, lflag) = now.flags();
        assert_eq!(
            lflag & (libc::ICANON | libc::ECHO | libc::ISIG | libc::IEXTEN),
            0
        );
        assert_eq!(iflag & (libc::ICRNL | libc::IXON), 0);
        assert_eq!(oflag & libc::OPOST, 0);
        assert_eq!(cflag & libc::CSIZE, libc::CS8);
        assert_eq!(now.cc(libc::VMIN), Some(1));
        assert_eq!(now.cc(libc::VTIME), Some(0));

        set(slave.as_fd(), When::Now, &cooked).unwrap();
        assert_eq!(get(slave.as_fd()).unwrap(), cooked);
    }

    #[test]
    fn non_terminals_refuse_and_report_enotty() {
        let (r, _w) = fdio::pipe_cloexec().unwrap();
        assert_eq!(
            get(r.as_fd()).unwrap_err().raw_os_error(),
            Some(libc::ENOTTY)
        );
        assert_eq!(char_device(r.as_fd()).unwrap(), None);
        assert_eq!(
            pty_number(r.as_fd()).unwrap_err().raw_os_error(),
            Some(libc::ENOTTY)
        );
    }

    #[test]
    fn identity_of_master_slave_and_reopened_slave() {
        let (master, slave) = pair();
        let n = pty_number(master.as_fd()).unwrap();
        let master_dev = char_device(master.as_fd()).unwrap().unwrap();
        assert!(is_ptmx(master_dev));
        let slave_dev = char_device(slave.as_fd()).unwrap().unwrap();
        assert!(!is_ptmx(slave_dev));
        // Unix98 slaves are majors 136..=143; the minor is the pty number.
        assert_eq!(
            libc::minor(slave_dev) as u32 + 256 * (libc::major(slave_dev) - 136),
            n
        );

        let again = reopen(slave.as_fd(), libc::O_RDWR | libc::O_NONBLOCK).unwrap();
        assert_eq!(char_device(again.as_fd()).unwrap(), Some(slave_dev));
        assert!(crate::sys::is_cloexec(again.as_fd()).unwrap());
        // A private description: O_NONBLOCK on the copy leaves the original blocking.
        assert!(is_nonblocking(again.as_fd()).unwrap());
        assert!(!is_nonblocking(slave.as_fd()).unwrap());

        // TIOCGDEV names the pair's slave from either side and through a re-open.
        let dev = tty_device(slave.as_fd()).unwrap();
        assert_eq!(tty_device(master.as_fd()).unwrap(), dev);
        assert_eq!(tty_device(again.as_fd()).unwrap(), dev);
        let (other_master, _other_slave) = pair();
        assert_ne!(tty_device(other_master.as_fd()).unwrap(), dev);
        let (r, _w) = fdio::pipe_cloexec().unwrap();
        assert_eq!(
            tty_device(r.as_fd()).unwrap_err().raw_os_error(),
            Some(libc::ENOTTY)
        );

        let dup = dup_cloexec(slave.as_fd()).unwrap();
        assert!(crate::sys::is_cloexec(dup.as_fd()).unwrap());
        fdio::set_nonblocking(dup.as_fd(), true).unwrap();
        assert!(
            is_nonblocking(slave.as_fd()).unwrap(),
            "dup shares the flags"
        );
        fdio::set_nonblocking(dup.as_fd(), false).unwrap();
    }
}
