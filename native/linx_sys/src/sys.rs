//! Thin wrappers around the syscalls Linx needs. This is the only module with `unsafe`:
//! each block is one libc call whose pointer arguments are valid for the call's duration,
//! and whose result is checked and turned into a [`SysError`] naming the stage.
#![allow(unsafe_code)]

use crate::SysError;
use std::ffi::CStr;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

fn last_errno() -> i32 {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

/// `open(path, O_RDONLY | O_CLOEXEC)`, as used for namespace files.
pub fn open_readonly(path: &CStr, stage: &'static str) -> Result<OwnedFd, SysError> {
    // SAFETY: `path` is a valid NUL-terminated string for the duration of the call.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(SysError::new(stage, last_errno()));
    }
    // SAFETY: `fd` was just returned by open(2) and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `setns(fd, nstype)` on the calling thread (see `netns::run_in_namespace`).
pub fn setns(fd: BorrowedFd<'_>, nstype: libc::c_int) -> Result<(), SysError> {
    // SAFETY: plain syscall on a borrowed, open descriptor.
    if unsafe { libc::setns(fd.as_raw_fd(), nstype) } < 0 {
        return Err(SysError::new("setns", last_errno()));
    }
    Ok(())
}

/// `socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol)`.
pub fn netlink_socket(protocol: libc::c_int) -> Result<OwnedFd, SysError> {
    // SAFETY: plain syscall with integer arguments.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            protocol,
        )
    };
    if fd < 0 {
        return Err(SysError::new("socket", last_errno()));
    }
    // SAFETY: `fd` was just returned by socket(2) and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `setsockopt(fd, level, name, &value, sizeof(int))`.
pub fn setsockopt_int(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
    stage: &'static str,
) -> Result<(), SysError> {
    // SAFETY: `value` lives on the stack for the duration of the call and the length
    // passed is exactly its size.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(SysError::new(stage, last_errno()));
    }
    Ok(())
}

/// `getsockopt(fd, level, name)` for an int-valued option.
pub fn getsockopt_int(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
    stage: &'static str,
) -> Result<libc::c_int, SysError> {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `value` and `len` are valid for writes for the duration of the call.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&mut value as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if rc < 0 {
        return Err(SysError::new(stage, last_errno()));
    }
    Ok(value)
}

/// `bind()` a netlink socket with `nl_pid = 0` (the kernel assigns the port id) and the
/// given legacy multicast group mask. `:socket.bind/2` cannot express `sockaddr_nl`.
pub fn bind_netlink(fd: BorrowedFd<'_>, groups: u32) -> Result<(), SysError> {
    // SAFETY: sockaddr_nl is plain old data; all-zero is a valid value.
    let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    addr.nl_pid = 0;
    addr.nl_groups = groups;
    // SAFETY: `addr` is a properly initialised sockaddr_nl and the length is its size.
    let rc = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&addr as *const libc::sockaddr_nl).cast(),
            std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(SysError::new("bind", last_errno()));
    }
    Ok(())
}

/// The port id (`nl_pid`) the kernel assigned to a bound netlink socket.
pub fn netlink_port_id(fd: BorrowedFd<'_>) -> Result<u32, SysError> {
    // SAFETY: sockaddr_nl is plain old data; all-zero is a valid value.
    let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t;
    // SAFETY: `addr`/`len` are valid for writes and `len` holds the buffer's size.
    let rc = unsafe {
        libc::getsockname(
            fd.as_raw_fd(),
            (&mut addr as *mut libc::sockaddr_nl).cast(),
            &mut len,
        )
    };
    if rc < 0 {
        return Err(SysError::new("getsockname", last_errno()));
    }
    Ok(addr.nl_pid)
}

/// Takes ownership of a raw descriptor handed over from the BEAM and closes it.
pub fn close(fd: RawFd) -> Result<(), SysError> {
    // SAFETY: plain syscall; the caller hands over ownership of `fd`.
    if unsafe { libc::close(fd) } < 0 {
        return Err(SysError::new("close", last_errno()));
    }
    Ok(())
}

/// Whether a descriptor has FD_CLOEXEC set (used by tests and assertions).
pub fn is_cloexec(fd: BorrowedFd<'_>) -> Result<bool, SysError> {
    // SAFETY: plain fcntl(F_GETFD) on a borrowed descriptor.
    let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFD) };
    if flags < 0 {
        return Err(SysError::new("fcntl", last_errno()));
    }
    Ok(flags & libc::FD_CLOEXEC != 0)
}

/// Borrows a descriptor number handed in from the BEAM for one synchronous call.
///
/// The caller (Elixir code that owns the fd, e.g. from `:socket.getopt(s, {:otp, :fd})`)
/// keeps it open for the duration of the NIF call; the borrow must not outlive that call.
pub fn borrow_fd(fd: RawFd) -> Result<BorrowedFd<'static>, SysError> {
    if fd < 0 {
        return Err(SysError::new("fd", libc::EBADF));
    }
    // SAFETY: non-negative, and open for the duration of the call per the contract above.
    Ok(unsafe { BorrowedFd::borrow_raw(fd) })
}

/// Sets FD_CLOEXEC on a descriptor. Needed after OTP's `:socket.open/2` adopts an fd: it
/// `dup(2)`s it, and `dup` never copies the close-on-exec flag.
pub fn set_cloexec(fd: BorrowedFd<'_>) -> Result<(), SysError> {
    // SAFETY: plain fcntl(F_GETFD/F_SETFD) on a borrowed descriptor.
    let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFD) };
    if flags < 0 {
        return Err(SysError::new("fcntl", last_errno()));
    }
    // SAFETY: as above.
    if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, flags | libc::FD_CLOEXEC) } < 0 {
        return Err(SysError::new("fcntl", last_errno()));
    }
    Ok(())
}

/// `open(path, flags | O_CLOEXEC)`: every descriptor Linx opens is close-on-exec, so a
/// port program forked meanwhile never inherits it.
pub fn open_cloexec(
    path: &CStr,
    flags: libc::c_int,
    stage: &'static str,
) -> Result<OwnedFd, SysError> {
    // SAFETY: `path` is a valid NUL-terminated string for the duration of the call.
    let fd = unsafe { libc::open(path.as_ptr(), flags | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(SysError::new(stage, last_errno()));
    }
    // SAFETY: `fd` was just returned by open(2) and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `ioctl(fd, TUNSETIFF, &ifr)` on an open `/dev/net/tun` (`/usr/include/linux/if_tun.h`):
/// `ifr_name = name`, `ifr_flags = flags`. Returns the name the kernel settled on (a
/// `tun%d` template comes back numbered). `name` must be 1..=15 bytes without NUL
/// (else EINVAL, before any syscall).
pub fn tun_set_iff(
    fd: BorrowedFd<'_>,
    name: &[u8],
    flags: libc::c_short,
) -> Result<Vec<u8>, SysError> {
    if name.is_empty() || name.len() >= libc::IFNAMSIZ || name.contains(&0) {
        return Err(SysError::new("tunsetiff", libc::EINVAL));
    }
    // SAFETY: struct ifreq is plain old data (a name array and a union of PODs); all
    // zeroes is a valid value and leaves the name NUL-terminated.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in ifr.ifr_name.iter_mut().zip(name) {
        *dst = *src as libc::c_char;
    }
    ifr.ifr_ifru.ifru_flags = flags;
    // SAFETY: `ifr` is a valid, initialised struct ifreq that outlives the call; the
    // kernel reads and writes at most sizeof(struct ifreq) bytes of it.
    let rc = unsafe {
        libc::ioctl(
            fd.as_raw_fd(),
            libc::TUNSETIFF,
            &mut ifr as *mut libc::ifreq,
        )
    };
    if rc < 0 {
        return Err(SysError::new("tunsetiff", last_errno()));
    }
    Ok(ifr
        .ifr_name
        .iter()
        .take_while(|c| **c != 0)
        .map(|c| *c as u8)
        .collect())
}

/// `ioctl(fd, request, value)` for requests whose argument is passed by value rather than
/// through a pointer (the tun ioctls `TUNSETOWNER`, `TUNSETGROUP`, `TUNSETPERSIST`).
pub fn ioctl_by_value(
    fd: BorrowedFd<'_>,
    request: libc::Ioctl,
    value: libc::c_ulong,
    stage: &'static str,
) -> Result<(), SysError> {
    // SAFETY: the argument is an integer, not a pointer, for the requests this is used
    // with, so the kernel dereferences nothing of ours.
    if unsafe { libc::ioctl(fd.as_raw_fd(), request, value) } < 0 {
        return Err(SysError::new(stage, last_errno()));
    }
    Ok(())
}

/// `unshare(flags)` for the calling thread (with `CLONE_NEWNET`: the thread alone moves
/// to a fresh network namespace, which dies with it).
pub fn unshare(flags: libc::c_int) -> Result<(), SysError> {
    // SAFETY: plain syscall with an integer argument.
    if unsafe { libc::unshare(flags) } < 0 {
        return Err(SysError::new("unshare", last_errno()));
    }
    Ok(())
}

/// `if_nametoindex(name)`: the ifindex of `name` in the calling thread's network
/// namespace, or 0 when there is none.
pub fn if_nametoindex(name: &CStr) -> u32 {
    // SAFETY: `name` is a valid NUL-terminated string for the duration of the call.
    unsafe { libc::if_nametoindex(name.as_ptr()) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn netlink_socket_is_cloexec_and_binds_to_a_port_id() {
        let fd = netlink_socket(0).expect("NETLINK_ROUTE socket");
        assert!(is_cloexec(fd.as_fd()).unwrap());
        bind_netlink(fd.as_fd(), 0).unwrap();
        assert!(netlink_port_id(fd.as_fd()).unwrap() > 0);
        // A second bind of a bound netlink socket is the kernel's EINVAL, reported as such.
        assert_eq!(
            bind_netlink(fd.as_fd(), 0),
            Err(SysError::new("bind", libc::EINVAL))
        );
    }

    #[test]
    fn unknown_protocol_is_a_socket_error() {
        let err = netlink_socket(31).unwrap_err();
        assert_eq!(err, SysError::new("socket", libc::EPROTONOSUPPORT));
    }

    #[test]
    fn cloexec_can_be_restored_after_dup() {
        let fd = netlink_socket(0).unwrap();
        let dup = fd.try_clone().unwrap(); // F_DUPFD_CLOEXEC keeps the flag
        assert!(is_cloexec(dup.as_fd()).unwrap());
        set_cloexec(dup.as_fd()).unwrap();
        assert!(is_cloexec(dup.as_fd()).unwrap());
    }

    #[test]
    fn rcvbuf_round_trips_through_setsockopt() {
        let fd = netlink_socket(0).unwrap();
        setsockopt_int(
            fd.as_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            65536,
            "rcvbuf",
        )
        .unwrap();
        let got = getsockopt_int(fd.as_fd(), libc::SOL_SOCKET, libc::SO_RCVBUF, "rcvbuf").unwrap();
        assert!(got >= 65536);
    }

    #[test]
    fn negative_fd_cannot_be_borrowed() {
        assert_eq!(borrow_fd(-1).unwrap_err(), SysError::new("fd", libc::EBADF));
        assert_eq!(close(-1), Err(SysError::new("close", libc::EBADF)));
    }

    #[test]
    fn open_cloexec_always_sets_the_flag_and_names_its_stage() {
        let fd = open_cloexec(c"/proc/self/ns/net", libc::O_RDONLY, "open").unwrap();
        assert!(is_cloexec(fd.as_fd()).unwrap());
        assert_eq!(
            open_cloexec(c"/nonexistent/file", libc::O_RDONLY, "open_tun").unwrap_err(),
            SysError::new("open_tun", libc::ENOENT)
        );
    }

    #[test]
    fn tun_ioctls_on_a_non_tun_descriptor_are_enotty() {
        let fd = open_cloexec(c"/proc/self/ns/net", libc::O_RDONLY, "open").unwrap();
        assert_eq!(
            ioctl_by_value(fd.as_fd(), libc::TUNSETPERSIST, 1, "tunsetpersist"),
            Err(SysError::new("tunsetpersist", libc::ENOTTY))
        );
        assert_eq!(
            tun_set_iff(fd.as_fd(), b"x0", libc::IFF_TUN as libc::c_short),
            Err(SysError::new("tunsetiff", libc::ENOTTY))
        );
    }

    #[test]
    fn if_nametoindex_finds_lo_and_not_a_missing_name() {
        assert_eq!(if_nametoindex(c"lo"), 1);
        assert_eq!(if_nametoindex(c"linx-no-such"), 0);
    }
}
