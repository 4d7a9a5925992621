//! What `Linx.Netlink.Rtnl.Link` needs beyond netlink messages.
//!
//! * `create_tuntap`: tun/tap devices cannot be created over rtnetlink (the kernel answers
//!   "tun/tap creation via rtnetlink is not supported"), only through `/dev/net/tun`
//!   (`linx_sys::tun`). The device lands in the netns of the thread that opens that file,
//!   so for a socket living in another netns the work runs on a throwaway thread inside
//!   it (`linx_sys::netns::run_in_namespace`), never on a BEAM scheduler thread.
//! * `open_ns_file`/`close_ns_file`: a namespace file opened for `IFLA_NET_NS_FD`. The
//!   descriptor is close-on-exec and owned by a resource, so it is closed by
//!   `close_ns_file` or, at the latest, when the resource is garbage collected (for
//!   instance if the calling process dies between open and close).
//!
//! Both block on the filesystem or on thread spawn + join, so they run on a dirty I/O
//! scheduler. Errors are `{stage, errno}` (see `error.rs`).

use crate::error::NifError;
use linx_sys::netns::{run_in_namespace, NsKind};
use linx_sys::tun::{self, TunOptions};
use linx_sys::{sys, SysError};
use rustler::{Binary, NifMap, ResourceArc};
use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::Mutex;

/// The options map `Linx.Netlink.Rtnl.Link` passes (every key present).
#[derive(NifMap)]
struct TunArgs {
    tap: bool,
    pi: bool,
    vnet_hdr: bool,
    multi_queue: bool,
    owner: Option<u32>,
    group: Option<u32>,
}

impl From<TunArgs> for TunOptions {
    fn from(a: TunArgs) -> Self {
        TunOptions {
            tap: a.tap,
            packet_info: a.pi,
            vnet_hdr: a.vnet_hdr,
            multi_queue: a.multi_queue,
            owner: a.owner,
            group: a.group,
        }
    }
}

/// Creates the persistent tun/tap device `name` in the netns at `netns` (a namespace
/// file path) or, for `nil`, in the BEAM's own. Returns the name the kernel gave it.
#[rustler::nif(schedule = "DirtyIo")]
fn create_tuntap(netns: Option<Binary>, name: Binary, args: TunArgs) -> Result<String, NifError> {
    let name = name.as_slice().to_vec();
    let opts = TunOptions::from(args);
    let created = match netns {
        None => tun::create_persistent(&name, &opts)?,
        Some(path) => run_in_namespace(path.as_slice(), NsKind::Net, move || {
            tun::create_persistent(&name, &opts)
        })?,
    };
    Ok(String::from_utf8_lossy(&created).into_owned())
}

/// An open namespace file; the descriptor is closed on `close_ns_file` or on drop.
pub struct NsFile {
    fd: Mutex<Option<OwnedFd>>,
}

#[rustler::resource_impl]
impl rustler::Resource for NsFile {}

/// Opens `path` read-only and close-on-exec (stage `:open`; an embedded NUL is EINVAL).
/// Returns the resource that owns the descriptor, and the descriptor number to put in
/// `IFLA_NET_NS_FD` while the resource is alive.
#[rustler::nif(schedule = "DirtyIo")]
fn open_ns_file(path: Binary) -> Result<(ResourceArc<NsFile>, RawFd), NifError> {
    let path = CString::new(path.as_slice()).map_err(|_| SysError::new("open", libc::EINVAL))?;
    let fd = sys::open_cloexec(&path, libc::O_RDONLY, "open")?;
    let raw = fd.as_raw_fd();
    let file = NsFile {
        fd: Mutex::new(Some(fd)),
    };
    Ok((ResourceArc::new(file), raw))
}

/// Closes the descriptor now (idempotent: a second call is a no-op).
#[rustler::nif]
fn close_ns_file(file: ResourceArc<NsFile>) -> rustler::Atom {
    // A poisoned lock only means another thread panicked while holding it; the Option
    // inside is still sound to take.
    let taken = match file.fd.lock() {
        Ok(mut guard) => guard.take(),
        Err(poisoned) => poisoned.into_inner().take(),
    };
    drop(taken);
    rustler::types::atom::ok()
}

/// Whether the descriptor is still open (for tests asserting it was closed).
#[rustler::nif]
fn ns_file_open(file: ResourceArc<NsFile>) -> bool {
    match file.fd.lock() {
        Ok(guard) => guard.is_some(),
        Err(poisoned) => poisoned.into_inner().is_some(),
    }
}
