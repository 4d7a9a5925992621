//! The NIF entry points of `Linx.Tty.Native`.
//!
//! Return shapes: `{:ok, ...}` or `{:error, {stage, errno}}` with `stage` one of
//! `:open`, `:tcgetattr`, `:tcsetattr`, `:ioctl`, `:close`, `:posix_openpt`,
//! `:unlockpt`, `:thread`, and `errno` the kernel's positive errno number (the Elixir
//! side names it). A wrong argument type, a negative window size field or a saved
//! termios blob of the wrong size raises `ArgumentError` (badarg).
//!
//! Scheduling: calls that open or close terminals, or start and stop relay threads, run
//! on dirty I/O schedulers (an open or last close of a terminal can wait on the line).
//! The rest are single non-blocking ioctls and run on normal schedulers.

use crate::relay::{Closed, Event, Options, Relay, Sink};
use crate::terminal::{self, Held, Terminal};
use linx_sys::pty::WinSize;
use linx_sys::termios::{self, Termios, When};
use linx_sys::{sys, SysError};
use rustler::types::binary::NewBinary;
use rustler::{
    Atom, Binary, Encoder, Env, Error, LocalPid, NifResult, OwnedEnv, ResourceArc, Term,
};
use std::os::fd::{BorrowedFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

mod atoms {
    rustler::atoms! {
        ok,
        error,
        nil,
        closed,
        data,
        winsize,
        eof,
        linx_tty,
    }
}

/// A terminal Linx opened: restored and closed by `restore_and_close/3`,
/// `handle_close/1`, or garbage collection.
pub struct Handle(Terminal);

#[rustler::resource_impl]
impl rustler::Resource for Handle {}

/// A running relay thread; stopped by `relay_close/2` or garbage collection.
pub struct RelayHandle(Relay);

#[rustler::resource_impl]
impl rustler::Resource for RelayHandle {}

fn error_term<'a>(env: Env<'a>, err: SysError) -> Term<'a> {
    // Stage names are a closed set of short static words: atom creation cannot fail.
    match Atom::from_str(env, err.stage) {
        Ok(stage) => (atoms::error(), (stage, err.errno)).encode(env),
        Err(_) => (atoms::error(), err.errno).encode(env),
    }
}

fn binary<'a>(env: Env<'a>, bytes: &[u8]) -> Term<'a> {
    let bin: Binary = NewBinary::from_slice(env, bytes).into();
    bin.encode(env)
}

/// A descriptor number from the BEAM, borrowed for this call only. Out of range: EBADF
/// under `stage`.
fn borrow(fd: i64, stage: &'static str) -> Result<BorrowedFd<'static>, SysError> {
    let raw = RawFd::try_from(fd).map_err(|_| SysError::new(stage, libc::EBADF))?;
    sys::borrow_fd(raw).map_err(|_| SysError::new(stage, libc::EBADF))
}

fn saved_from(bin: &Binary) -> NifResult<Termios> {
    Termios::from_bytes(bin.as_slice()).ok_or(Error::BadArg)
}

fn winsize_term(env: Env<'_>, ws: WinSize) -> Term<'_> {
    (ws.rows, ws.cols, ws.xpixel, ws.ypixel).encode(env)
}

fn opened<'a>(env: Env<'a>, held: Held, saved: &Termios) -> Term<'a> {
    let fd = held.raw_fd();
    let handle = ResourceArc::new(Handle(Terminal::new(held)));
    (atoms::ok(), handle, fd, binary(env, &saved.to_bytes())).encode(env)
}

#[rustler::nif]
fn version() -> &'static str {
    "linx_tty"
}

/// `/dev/tty`, raw: `{:ok, handle, fd, saved_termios}`.
#[rustler::nif(schedule = "DirtyIo")]
fn open_controlling_raw(env: Env<'_>) -> Term<'_> {
    match terminal::open_controlling_raw() {
        Ok((held, saved)) => opened(env, held, &saved),
        Err(e) => error_term(env, e),
    }
}

/// A private description of the terminal at `fd`, raw: `{:ok, handle, fd, saved}`.
#[rustler::nif(schedule = "DirtyIo")]
fn open_fd_raw(env: Env<'_>, fd: i64) -> Term<'_> {
    let result = borrow(fd, "tcgetattr").and_then(terminal::open_fd_raw);
    match result {
        Ok((held, saved)) => opened(env, held, &saved),
        Err(e) => error_term(env, e),
    }
}

/// Restores `saved` and closes. With a handle (whose descriptor is `fd`) the handle's
/// terminal is used and a second call is a no-op; without one, `fd` itself is restored
/// and closed (EBADF from either step counts as done).
#[rustler::nif(schedule = "DirtyIo")]
fn restore_and_close<'a>(
    env: Env<'a>,
    handle: Term<'a>,
    fd: i64,
    saved: Binary<'a>,
) -> NifResult<Term<'a>> {
    let saved = saved_from(&saved)?;
    if let Ok(handle) = handle.decode::<ResourceArc<Handle>>() {
        if handle.0.raw_fd().map(i64::from) == Some(fd) || handle.0.raw_fd().is_none() {
            return Ok(match handle.0.take() {
                None => atoms::ok().encode(env),
                Some(held) => match held.restore_and_close(Some(&saved)) {
                    Ok(()) => atoms::ok().encode(env),
                    Err(e) => error_term(env, e),
                },
            });
        }
    } else if handle.decode::<Atom>().ok() != Some(atoms::nil()) {
        return Err(Error::BadArg);
    }
    Ok(match restore_raw_fd(fd, &saved) {
        Ok(()) => atoms::ok().encode(env),
        Err(e) => error_term(env, e),
    })
}

fn restore_raw_fd(fd: i64, saved: &Termios) -> Result<(), SysError> {
    // A number that cannot be a descriptor has nothing to restore or close.
    let Ok(borrowed) = borrow(fd, "tcsetattr") else {
        return Ok(());
    };
    let raw = std::os::fd::AsRawFd::as_raw_fd(&borrowed);
    let set = match termios::set(borrowed, When::Now, saved) {
        Err(e) if e.raw_os_error() != Some(libc::EBADF) => Err(SysError::new(
            "tcsetattr",
            e.raw_os_error().unwrap_or(libc::EIO),
        )),
        _ => Ok(()),
    };
    // A descriptor a handle owns is closed by its handle, never by number.
    if terminal::owned_by_handle(raw) {
        return set;
    }
    // The caller hands the descriptor over (0.2's contract for a saved state without a
    // handle); the borrow above is not used past this point.
    let closed = match sys::close(raw) {
        Err(e) if e.errno != libc::EBADF => Err(e),
        _ => Ok(()),
    };
    set.and(closed)
}

/// A close-on-exec duplicate of `fd` that no resource owns: the caller closes it (for
/// instance with `restore_and_close(nil, fd, saved)`). For tests of 0.2's bare-number
/// contract.
#[rustler::nif]
fn dup_fd(env: Env<'_>, fd: i64) -> Term<'_> {
    let result = borrow(fd, "open").and_then(|b| {
        termios::dup_cloexec(b)
            .map_err(|e| SysError::new("open", e.raw_os_error().unwrap_or(libc::EIO)))
    });
    match result {
        Ok(own) => (atoms::ok(), std::os::fd::IntoRawFd::into_raw_fd(own)).encode(env),
        Err(e) => error_term(env, e),
    }
}

/// Closes a handle's terminal now, restoring what it saved (if anything). Idempotent.
#[rustler::nif(schedule = "DirtyIo")]
fn handle_close(env: Env<'_>, handle: ResourceArc<Handle>) -> Term<'_> {
    match handle.0.take() {
        None => atoms::ok().encode(env),
        Some(held) => match held.restore_and_close(None) {
            Ok(()) => atoms::ok().encode(env),
            Err(e) => error_term(env, e),
        },
    }
}

/// The handle's descriptor number, or `nil` once closed.
#[rustler::nif]
fn handle_fd(env: Env<'_>, handle: ResourceArc<Handle>) -> Term<'_> {
    match handle.0.raw_fd() {
        Some(fd) => fd.encode(env),
        None => atoms::nil().encode(env),
    }
}

/// `tcgetattr`: `{:ok, termios_bytes}`.
#[rustler::nif]
fn termios_get(env: Env<'_>, fd: i64) -> Term<'_> {
    let result = borrow(fd, "tcgetattr").and_then(|b| {
        termios::get(b)
            .map_err(|e| SysError::new("tcgetattr", e.raw_os_error().unwrap_or(libc::EIO)))
    });
    match result {
        Ok(t) => (atoms::ok(), binary(env, &t.to_bytes())).encode(env),
        Err(e) => error_term(env, e),
    }
}

/// `tcsetattr(TCSANOW)`.
#[rustler::nif]
fn termios_set<'a>(env: Env<'a>, fd: i64, saved: Binary<'a>) -> NifResult<Term<'a>> {
    let t = saved_from(&saved)?;
    let result = borrow(fd, "tcsetattr").and_then(|b| {
        termios::set(b, When::Now, &t)
            .map_err(|e| SysError::new("tcsetattr", e.raw_os_error().unwrap_or(libc::EIO)))
    });
    Ok(match result {
        Ok(()) => atoms::ok().encode(env),
        Err(e) => error_term(env, e),
    })
}

/// Raw mode on `fd` (a descriptor the caller owns): `{:ok, previous_termios}`.
#[rustler::nif]
fn make_raw(env: Env<'_>, fd: i64) -> Term<'_> {
    match borrow(fd, "tcgetattr").and_then(terminal::make_raw) {
        Ok(saved) => (atoms::ok(), binary(env, &saved.to_bytes())).encode(env),
        Err(e) => error_term(env, e),
    }
}

/// `TIOCGWINSZ`: `{:ok, {rows, cols, xpixel, ypixel}}`.
#[rustler::nif]
fn window_size(env: Env<'_>, fd: i64) -> Term<'_> {
    match borrow(fd, "ioctl").and_then(terminal::window_size) {
        Ok(ws) => (atoms::ok(), winsize_term(env, ws)).encode(env),
        Err(e) => error_term(env, e),
    }
}

/// `TIOCSWINSZ`. Negative fields are badarg; fields above 65535 do not fit `struct
/// winsize` and are EINVAL (as 0.2 reported them).
#[rustler::nif]
fn set_window_size(env: Env<'_>, fd: i64, ws: (i64, i64, i64, i64)) -> NifResult<Term<'_>> {
    let (r, c, x, y) = ws;
    if [r, c, x, y].iter().any(|v| *v < 0) {
        return Err(Error::BadArg);
    }
    let field = |v: i64| u16::try_from(v).map_err(|_| SysError::new("ioctl", libc::EINVAL));
    let result = (|| {
        let ws = WinSize {
            rows: field(r)?,
            cols: field(c)?,
            xpixel: field(x)?,
            ypixel: field(y)?,
        };
        terminal::set_window_size(borrow(fd, "ioctl")?, ws)
    })();
    Ok(match result {
        Ok(()) => atoms::ok().encode(env),
        Err(e) => error_term(env, e),
    })
}

/// Whether two descriptors are the same terminal (false on any error). Compared by
/// `TIOCGDEV`, which sees through `/dev/tty`; for non-terminals by `fstat`'s device.
#[rustler::nif]
fn same_terminal(a: i64, b: i64) -> bool {
    let (Ok(a), Ok(b)) = (borrow(a, "fstat"), borrow(b, "fstat")) else {
        return false;
    };
    match (termios::tty_device(a), termios::tty_device(b)) {
        (Ok(x), Ok(y)) => x == y,
        (Err(_), Err(_)) => match (termios::char_device(a), termios::char_device(b)) {
            (Ok(Some(x)), Ok(Some(y))) => x == y,
            _ => false,
        },
        _ => false,
    }
}

/// A new pty: `{:ok, {master_handle, master_fd}, {slave_handle, slave_fd}, path}`.
#[rustler::nif(schedule = "DirtyIo")]
fn open_pty(env: Env<'_>) -> Term<'_> {
    match terminal::open_pty() {
        Ok(p) => {
            let mfd = p.master.raw_fd();
            let sfd = p.slave.raw_fd();
            let m = ResourceArc::new(Handle(Terminal::new(p.master)));
            let s = ResourceArc::new(Handle(Terminal::new(p.slave)));
            (atoms::ok(), (m, mfd), (s, sfd), p.path).encode(env)
        }
        Err(e) => error_term(env, e),
    }
}

/// Delivers relay events to a process as `{:linx_tty, id, event}`.
struct BeamSink {
    env: OwnedEnv,
    pid: LocalPid,
    id: u64,
}

impl Sink for BeamSink {
    fn deliver(&mut self, event: Event) -> bool {
        let id = self.id;
        self.env
            .send_and_clear(&self.pid, |env| {
                let payload = match &event {
                    Event::Data(bytes) => (atoms::data(), binary(env, bytes)).encode(env),
                    Event::WinSize(ws) => (atoms::winsize(), winsize_term(env, *ws)).encode(env),
                    Event::Closed(Closed::Eof) => (atoms::closed(), atoms::eof()).encode(env),
                    Event::Closed(Closed::Errno(e)) => (atoms::closed(), *e).encode(env),
                };
                (atoms::linx_tty(), id, payload).encode(env)
            })
            .is_ok()
    }
}

static RELAY_IDS: AtomicU64 = AtomicU64::new(1);

/// Starts a relay on a duplicate of `fd` sending to `pid`; `read` false leaves the input
/// alone; `poll_ms` > 0 also reports window size changes. `{:ok, relay, id}`.
#[rustler::nif(schedule = "DirtyIo")]
fn relay_open(env: Env<'_>, fd: i64, pid: LocalPid, read: bool, poll_ms: u64) -> Term<'_> {
    let id = RELAY_IDS.fetch_add(1, Ordering::Relaxed);
    let result = borrow(fd, "open").and_then(|b| {
        let own = termios::dup_cloexec(b)
            .map_err(|e| SysError::new("open", e.raw_os_error().unwrap_or(libc::EIO)))?;
        let sink = BeamSink {
            env: OwnedEnv::new(),
            pid,
            id,
        };
        let opts = Options {
            read,
            winsize_poll: (poll_ms > 0).then(|| Duration::from_millis(poll_ms)),
        };
        Relay::start(own, sink, opts)
            .map_err(|e| SysError::new("thread", e.raw_os_error().unwrap_or(libc::EAGAIN)))
    });
    match result {
        Ok(relay) => (atoms::ok(), ResourceArc::new(RelayHandle(relay)), id).encode(env),
        Err(e) => error_term(env, e),
    }
}

/// Queues bytes for the terminal: `:ok`, or `{:error, :closed}` once the relay ended.
#[rustler::nif]
fn relay_write<'a>(env: Env<'a>, relay: ResourceArc<RelayHandle>, bytes: Binary<'a>) -> Term<'a> {
    match relay.0.write(bytes.as_slice()) {
        Ok(()) => atoms::ok().encode(env),
        Err(_) => (atoms::error(), atoms::closed()).encode(env),
    }
}

/// Bytes queued for the terminal and not yet written.
#[rustler::nif]
fn relay_pending(relay: ResourceArc<RelayHandle>) -> usize {
    relay.0.pending()
}

/// Stops the relay after writing out what is queued (for at most `flush_ms`).
#[rustler::nif(schedule = "DirtyIo")]
fn relay_close(relay: ResourceArc<RelayHandle>, flush_ms: u64) -> Atom {
    relay.0.close(Duration::from_millis(flush_ms));
    atoms::ok()
}

rustler::init!("Elixir.Linx.Tty.Native");
