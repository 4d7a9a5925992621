//! Persistent tun/tap devices.
//!
//! The kernel refuses to create tun/tap devices over rtnetlink ("tun/tap creation via
//! rtnetlink is not supported"): they only come from `/dev/net/tun`. Opening that file
//! and calling `TUNSETIFF` creates the device and attaches the descriptor to it; marking
//! it persistent (`TUNSETPERSIST 1`) keeps the device after the descriptor is closed.
//! That is what `ip tuntap add` does, and what [`create_persistent`] does.
//!
//! The device is created in the network namespace of the thread that *opens*
//! `/dev/net/tun` (the file's socket takes the opener's netns), so callers wanting another
//! netns run this inside `netns::run_in_namespace`.
//!
//! Constants: `/usr/include/linux/if_tun.h`.

use crate::{sys, SysError};
use std::ffi::CStr;
use std::os::fd::AsFd;

const TUN_PATH: &CStr = c"/dev/net/tun";

/// What kind of device, and its `TUNSETIFF` options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TunOptions {
    /// `IFF_TAP` (an Ethernet device) instead of `IFF_TUN` (an IP device, no link layer).
    pub tap: bool,
    /// Keep the 4-byte packet information header (`IFF_NO_PI` is set unless this is true).
    pub packet_info: bool,
    /// `IFF_VNET_HDR`: frames carry a `virtio_net_hdr`.
    pub vnet_hdr: bool,
    /// `IFF_MULTI_QUEUE`: several descriptors may attach, one queue each.
    pub multi_queue: bool,
    /// `TUNSETOWNER`: the uid allowed to attach without CAP_NET_ADMIN.
    pub owner: Option<u32>,
    /// `TUNSETGROUP`: the gid allowed to attach without CAP_NET_ADMIN.
    pub group: Option<u32>,
}

impl TunOptions {
    /// The `ifr_flags` for `TUNSETIFF`. `IFF_TUN_EXCL` makes the call fail with EBUSY when
    /// a device of that name already exists, instead of silently attaching to it (which
    /// is what `TUNSETIFF` does for an existing, detached persistent tun/tap).
    pub fn ifr_flags(&self) -> libc::c_short {
        let mut flags = if self.tap {
            libc::IFF_TAP
        } else {
            libc::IFF_TUN
        };
        if !self.packet_info {
            flags |= libc::IFF_NO_PI;
        }
        if self.vnet_hdr {
            flags |= libc::IFF_VNET_HDR;
        }
        if self.multi_queue {
            flags |= libc::IFF_MULTI_QUEUE;
        }
        flags |= libc::IFF_TUN_EXCL;
        // ifr_flags is a C short; IFF_TUN_EXCL is its sign bit.
        flags as u16 as libc::c_short
    }
}

/// Creates the persistent device `name` in the calling thread's network namespace and
/// returns the name the kernel gave it. Stages: `"open_tun"` (opening `/dev/net/tun`),
/// `"tunsetiff"` (EBUSY: the name is taken; EINVAL: bad name or flags; EPERM: no
/// CAP_NET_ADMIN), `"tunsetowner"`, `"tunsetgroup"`, `"tunsetpersist"`.
///
/// Persistence is set last: if an earlier step fails, closing the descriptor removes the
/// half-made device, so a failure leaves nothing behind.
pub fn create_persistent(name: &[u8], opts: &TunOptions) -> Result<Vec<u8>, SysError> {
    let file = sys::open_cloexec(TUN_PATH, libc::O_RDWR, "open_tun")?;
    let created = sys::tun_set_iff(file.as_fd(), name, opts.ifr_flags())?;
    if let Some(uid) = opts.owner {
        sys::ioctl_by_value(
            file.as_fd(),
            libc::TUNSETOWNER,
            uid as libc::c_ulong,
            "tunsetowner",
        )?;
    }
    if let Some(gid) = opts.group {
        sys::ioctl_by_value(
            file.as_fd(),
            libc::TUNSETGROUP,
            gid as libc::c_ulong,
            "tunsetgroup",
        )?;
    }
    sys::ioctl_by_value(file.as_fd(), libc::TUNSETPERSIST, 1, "tunsetpersist")?;
    // `file` closes here; the device stays because it is persistent.
    Ok(created)
}

/// Removes the persistent device `name` the way `ip tuntap del` does: attach to it with
/// the flags it was created with (`tap`, `multi_queue` must match), clear persistence,
/// close. Used by tests; `RTM_DELLINK` removes tun/tap devices as well.
pub fn delete_persistent(name: &[u8], tap: bool, multi_queue: bool) -> Result<(), SysError> {
    let opts = TunOptions {
        tap,
        multi_queue,
        ..TunOptions::default()
    };
    // Without IFF_TUN_EXCL: attaching to the existing device is the point here.
    let flags = (opts.ifr_flags() as u16 & !(libc::IFF_TUN_EXCL as u16)) as libc::c_short;
    let file = sys::open_cloexec(TUN_PATH, libc::O_RDWR, "open_tun")?;
    sys::tun_set_iff(file.as_fd(), name, flags)?;
    sys::ioctl_by_value(file.as_fd(), libc::TUNSETPERSIST, 0, "tunsetpersist")
}

#[cfg(test)]
mod tests {
    use super::*;

    // Runs `work` on a thread moved into a fresh, private network namespace: whatever it
    // creates is invisible to the host and destroyed with the namespace when the thread
    // exits. Needs CAP_SYS_ADMIN (the suite runs as root).
    fn in_private_netns<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
        std::thread::spawn(move || {
            sys::unshare(libc::CLONE_NEWNET).expect("unshare(CLONE_NEWNET) needs root");
            work()
        })
        .join()
        .unwrap()
    }

    // The ifindex of `name` in the calling thread's netns, or 0 (if_nametoindex(3) asks
    // through a socket it creates, which lives in the calling thread's netns).
    fn ifindex(name: &str) -> u32 {
        sys::if_nametoindex(&std::ffi::CString::new(name).unwrap())
    }

    #[test]
    fn flags_follow_if_tun_h() {
        let tun = TunOptions::default();
        assert_eq!(tun.ifr_flags() as u16, 0x0001 | 0x1000 | 0x8000);
        let tap = TunOptions {
            tap: true,
            packet_info: true,
            vnet_hdr: true,
            multi_queue: true,
            ..TunOptions::default()
        };
        assert_eq!(tap.ifr_flags() as u16, 0x0002 | 0x4000 | 0x0100 | 0x8000);
    }

    #[test]
    fn ioctl_numbers_follow_if_tun_h() {
        // _IOW('T', nr, int): direction write (1) << 30 | size 4 << 16 | 'T' << 8 | nr
        let iow = |nr: u64| ((1u64 << 30) | (4 << 16) | ((b'T' as u64) << 8) | nr) as libc::Ioctl;
        assert_eq!(libc::TUNSETIFF, iow(202));
        assert_eq!(libc::TUNSETPERSIST, iow(203));
        assert_eq!(libc::TUNSETOWNER, iow(204));
        assert_eq!(libc::TUNSETGROUP, iow(206));
    }

    #[test]
    fn bad_names_fail_before_any_syscall() {
        for name in [&b""[..], b"sixteen-bytes-xx", b"a\0b"] {
            let err = create_persistent(name, &TunOptions::default()).unwrap_err();
            assert_eq!(err, SysError::new("tunsetiff", libc::EINVAL), "{name:?}");
        }
    }

    #[test]
    fn creates_a_persistent_tap_that_outlives_its_descriptor_then_deletes_it() {
        in_private_netns(|| {
            let opts = TunOptions {
                tap: true,
                owner: Some(4242),
                group: Some(4343),
                ..TunOptions::default()
            };
            let name = create_persistent(b"lxtap0", &opts).unwrap();
            assert_eq!(name, b"lxtap0");
            assert!(ifindex("lxtap0") > 0, "device exists after close");

            // Creating it again is refused instead of attaching to it.
            assert_eq!(
                create_persistent(b"lxtap0", &opts),
                Err(SysError::new("tunsetiff", libc::EBUSY))
            );

            delete_persistent(b"lxtap0", true, false).unwrap();
            assert_eq!(ifindex("lxtap0"), 0, "device gone");
        });
    }

    #[test]
    fn a_template_name_comes_back_numbered() {
        in_private_netns(|| {
            let name = create_persistent(b"lxtun%d", &TunOptions::default()).unwrap();
            assert_eq!(name, b"lxtun0");
            delete_persistent(&name, false, false).unwrap();
        });
    }
}
