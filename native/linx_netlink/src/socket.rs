//! Netlink sockets pinned to a network namespace.
//!
//! Guarantees:
//! * no BEAM thread ever calls `setns`: the socket is created on a throwaway thread
//!   (`linx_sys::netns`), which exits right after;
//! * every descriptor is `SOCK_CLOEXEC`; on any failure after `socket(2)` it is closed
//!   before returning, so an error never leaks an fd;
//! * calls that may block (thread spawn + join) run on a dirty I/O scheduler.

use crate::error::NifError;
use linx_sys::netns::{run_in_namespace, NsKind};
use linx_sys::{sys, SysError};
use rustler::{Binary, Encoder, Env, Term};
use std::os::fd::{AsFd, BorrowedFd, IntoRawFd, OwnedFd, RawFd};

// /usr/include/linux/netlink.h
const SOL_NETLINK: libc::c_int = 270;
const NETLINK_CAP_ACK: libc::c_int = 10;
const NETLINK_EXT_ACK: libc::c_int = 11;

fn create(netns: Option<Vec<u8>>, protocol: i32) -> Result<OwnedFd, SysError> {
    if protocol < 0 {
        return Err(SysError::new("socket", libc::EINVAL));
    }
    match netns {
        None => sys::netlink_socket(protocol),
        Some(path) => run_in_namespace(&path, NsKind::Net, move || sys::netlink_socket(protocol)),
    }
}

/// Options a fresh request socket gets: extended acks (error text from the kernel) and
/// capped acks (errors do not echo the whole request back), both best-effort on old
/// kernels; a receive buffer of `rcvbuf` bytes, forced past `rmem_max` when privileged.
fn configure(fd: BorrowedFd<'_>, rcvbuf: i32) -> Result<(), SysError> {
    for opt in [NETLINK_EXT_ACK, NETLINK_CAP_ACK] {
        match sys::setsockopt_int(fd, SOL_NETLINK, opt, 1, "setsockopt") {
            Err(e) if e.errno == libc::ENOPROTOOPT => {}
            other => other?,
        }
    }
    if rcvbuf > 0 {
        apply_rcvbuf(fd, rcvbuf)?;
    }
    Ok(())
}

fn apply_rcvbuf(fd: BorrowedFd<'_>, bytes: i32) -> Result<(), SysError> {
    match sys::setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, bytes, "rcvbuf") {
        Err(e) if e.errno == libc::EPERM => {
            sys::setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, bytes, "rcvbuf")
        }
        other => other,
    }
}

fn path_arg(netns: Option<Binary>) -> Option<Vec<u8>> {
    netns.map(|b| b.as_slice().to_vec())
}

/// Opens, configures and binds a netlink socket in `netns` (a path to a netns file, or
/// `nil` for the caller's own). Returns the raw fd for `:socket.open/2` to adopt.
#[rustler::nif(schedule = "DirtyIo")]
fn open(netns: Option<Binary>, protocol: i32, rcvbuf: i32) -> Result<RawFd, NifError> {
    let fd = create(path_arg(netns), protocol)?;
    configure(fd.as_fd(), rcvbuf)?;
    sys::bind_netlink(fd.as_fd(), 0)?;
    Ok(fd.into_raw_fd())
}

/// 0.2's primitive: a bare socket created inside the netns at `path` (not bound).
#[rustler::nif(schedule = "DirtyIo")]
fn open_in_netns(path: Binary, protocol: i32) -> Result<RawFd, NifError> {
    Ok(create(Some(path.as_slice().to_vec()), protocol)?.into_raw_fd())
}

/// Closes an fd that `:socket` did not adopt.
#[rustler::nif]
fn close_fd(env: Env, fd: RawFd) -> Term {
    unit(env, sys::close(fd))
}

/// Binds `fd` with `nl_pid = 0` and a legacy group mask (`:socket.bind/2` cannot).
#[rustler::nif]
fn bind_netlink(env: Env, fd: RawFd, groups: u32) -> Term {
    unit(
        env,
        sys::borrow_fd(fd).and_then(|fd| sys::bind_netlink(fd, groups)),
    )
}

/// The kernel-assigned port id of a bound socket.
#[rustler::nif]
fn port_id(fd: RawFd) -> Result<u32, NifError> {
    Ok(sys::netlink_port_id(sys::borrow_fd(fd)?)?)
}

/// `SO_RCVBUFFORCE` (falling back to `SO_RCVBUF` when unprivileged); returns the size
/// the kernel granted (it doubles the request for bookkeeping, as socket(7) says).
#[rustler::nif]
fn set_rcvbuf(fd: RawFd, bytes: i32) -> Result<i32, NifError> {
    let fd = sys::borrow_fd(fd)?;
    apply_rcvbuf(fd, bytes)?;
    Ok(sys::getsockopt_int(
        fd,
        libc::SOL_SOCKET,
        libc::SO_RCVBUF,
        "rcvbuf",
    )?)
}

/// Sets FD_CLOEXEC on `fd` (OTP's fd adoption dups without it).
#[rustler::nif]
fn set_cloexec(env: Env, fd: RawFd) -> Term {
    unit(env, sys::borrow_fd(fd).and_then(sys::set_cloexec))
}

/// Whether `fd` carries FD_CLOEXEC (for tests asserting the guarantee).
#[rustler::nif]
fn cloexec(fd: RawFd) -> Result<bool, NifError> {
    Ok(sys::is_cloexec(sys::borrow_fd(fd)?)?)
}

/// `:ok` or `{:error, {stage, errno}}`, for calls with nothing to return.
fn unit(env: Env<'_>, result: Result<(), SysError>) -> Term<'_> {
    match result {
        Ok(()) => rustler::types::atom::ok().encode(env),
        Err(e) => (rustler::types::atom::error(), NifError::from(e)).encode(env),
    }
}
