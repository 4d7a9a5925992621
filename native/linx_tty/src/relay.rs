//! The byte relay: one thread per open terminal that moves bytes between a terminal
//! descriptor and a receiver (an Erlang process, through [`Sink`]).
//!
//! * Input: whatever the terminal has is read as soon as it is readable and delivered
//!   as [`Event::Data`], in order.
//! * Output: [`Relay::write`] appends to a queue and returns at once; the thread writes
//!   the queue out as fast as the terminal takes it. Nothing on a BEAM scheduler ever
//!   waits for a slow or stopped (`^S`) terminal.
//! * Window size: with a poll interval, the thread reads `TIOCGWINSZ` that often and
//!   delivers [`Event::WinSize`] when it changed. This is how a resize of a terminal
//!   that is not the BEAM's controlling terminal (no SIGWINCH reaches the BEAM for it)
//!   is noticed.
//! * End: a hangup, an end of file or a read/write error is delivered once as
//!   [`Event::Closed`] and ends the thread. So does a receiver that is gone.
//!
//! The descriptor is the relay's own (a duplicate or a re-opened one); it is
//! non-blocking, and closed when the thread ends. The thread is stopped by
//! [`Relay::close`] (which first flushes queued output, up to a deadline) or by
//! dropping the [`Relay`] (which stops it without waiting).

use linx_sys::fdio;
use linx_sys::pty::{self, WinSize};
use linx_sys::termios;
use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Bytes read per `read(2)`, and at most this many times per wake-up before output and
/// the window size get their turn.
const READ_CHUNK: usize = 16 * 1024;
const READS_PER_WAKE: usize = 4;

/// What the relay tells its receiver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Bytes read from the terminal.
    Data(Vec<u8>),
    /// The terminal's window size changed (only with a poll interval).
    WinSize(WinSize),
    /// The terminal is gone; the relay has stopped.
    Closed(Closed),
}

/// Why the terminal stopped working.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    /// `read(2)` returned 0 or poll reported a hangup: the other side went away.
    Eof,
    /// A read, write or poll failed with this errno (EIO: a pty whose other side closed).
    Errno(i32),
}

/// Where events go. `deliver` returns false when the receiver is gone, which stops the
/// relay.
pub trait Sink: Send + 'static {
    fn deliver(&mut self, event: Event) -> bool;
}

/// Relay options.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Read the terminal's input. Off for a terminal whose input someone else reads
    /// (the relay then only writes, and still notices a hangup).
    pub read: bool,
    /// Read `TIOCGWINSZ` this often and report changes; `None` never does.
    pub winsize_poll: Option<Duration>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            read: true,
            winsize_poll: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Run,
    /// Stop reading; write what is queued until the deadline, then end.
    Flush(Instant),
    Now,
}

struct State {
    out: VecDeque<u8>,
    stop: Stop,
    /// The thread has ended (terminal gone, receiver gone, or stopped).
    ended: bool,
}

struct Shared {
    state: Mutex<State>,
    wake_w: OwnedFd,
}

impl Shared {
    // A poisoned lock means a thread panicked while holding it; the state is still a
    // plain queue and flags, sound to keep using.
    fn lock(&self) -> MutexGuard<'_, State> {
        match self.state.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn wake(&self) {
        // The pipe is non-blocking: EAGAIN means it is full, so a wake-up is pending
        // anyway.
        let _ = fdio::write(self.wake_w.as_fd(), &[1]);
    }
}

/// Why [`Relay::write`] refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayClosed;

/// A running relay. Dropping it stops the thread without waiting for it.
pub struct Relay {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

struct Worker<S: Sink> {
    fd: OwnedFd,
    wake_r: OwnedFd,
    shared: Arc<Shared>,
    sink: S,
    opts: Options,
    /// Set when the relay turned on O_NONBLOCK on a description it shares with others;
    /// it is turned off again when the relay ends.
    restore_blocking: bool,
}

impl Relay {
    /// Starts a relay over `fd` (which it owns from now on). The descriptor is made
    /// non-blocking if it is not already; in that case (a description shared with
    /// others) blocking mode is restored when the relay ends.
    pub fn start<S: Sink>(fd: OwnedFd, sink: S, opts: Options) -> io::Result<Relay> {
        let restore_blocking = if termios::is_nonblocking(fd.as_fd())? {
            false
        } else {
            fdio::set_nonblocking(fd.as_fd(), true)?;
            true
        };
        let (wake_r, wake_w) = fdio::pipe_cloexec()?;
        fdio::set_nonblocking(wake_r.as_fd(), true)?;
        fdio::set_nonblocking(wake_w.as_fd(), true)?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                out: VecDeque::new(),
                stop: Stop::Run,
                ended: false,
            }),
            wake_w,
        });
        let worker = Worker {
            fd,
            wake_r,
            shared: Arc::clone(&shared),
            sink,
            opts,
            restore_blocking,
        };
        let guard = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("linx_tty_relay".into())
            .spawn(move || {
                // Nothing in the worker is expected to panic; if something does, the
                // relay still reads as ended instead of accepting writes forever.
                let outcome =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| worker.run()));
                if outcome.is_err() {
                    let mut st = guard.lock();
                    st.ended = true;
                    st.out.clear();
                }
            })?;
        Ok(Relay {
            shared,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Queues `bytes` for the terminal. Fails once the relay has ended or is closing.
    pub fn write(&self, bytes: &[u8]) -> Result<(), RelayClosed> {
        {
            let mut st = self.shared.lock();
            if st.ended || st.stop != Stop::Run {
                return Err(RelayClosed);
            }
            if bytes.is_empty() {
                return Ok(());
            }
            st.out.extend(bytes);
        }
        self.shared.wake();
        Ok(())
    }

    /// Bytes queued and not yet taken by the terminal.
    pub fn pending(&self) -> usize {
        self.shared.lock().out.len()
    }

    /// Whether the thread has ended.
    pub fn ended(&self) -> bool {
        self.shared.lock().ended
    }

    /// Stops the relay: no more reading; queued output is written for at most `flush`,
    /// then the thread ends and the descriptor is closed. Blocks until then (so call it
    /// off the BEAM's normal schedulers). Idempotent.
    pub fn close(&self, flush: Duration) {
        {
            let mut st = self.shared.lock();
            if st.stop == Stop::Run {
                st.stop = match Instant::now().checked_add(flush) {
                    Some(deadline) if !flush.is_zero() => Stop::Flush(deadline),
                    _ => Stop::Now,
                };
            }
        }
        self.shared.wake();
        let handle = match self.thread.lock() {
            Ok(mut g) => g.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        if let Some(handle) = handle {
            // The worker catches nothing that can panic (no unwraps); a panic would
            // only mean the thread is gone, which is what we wait for.
            let _ = handle.join();
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.shared.lock().stop = Stop::Now;
        self.shared.wake();
        // Not joined: the thread sees the stop within one poll round and ends on its
        // own, closing its descriptor. Dropping happens during garbage collection,
        // which must not wait.
    }
}

impl<S: Sink> Worker<S> {
    fn run(mut self) {
        let reason = self.pump();
        // Ended before the receiver hears of it: a write after the news is refused.
        {
            let mut st = self.shared.lock();
            st.ended = true;
            st.out.clear();
        }
        if self.restore_blocking {
            let _ = fdio::set_nonblocking(self.fd.as_fd(), false);
        }
        if let Some(reason) = reason {
            let _ = self.sink.deliver(Event::Closed(reason));
        }
        // `self.fd` closes here.
    }

    /// The loop. Returns the reason to report, or `None` when stopped on request or
    /// when the receiver is gone.
    fn pump(&mut self) -> Option<Closed> {
        let mut last_ws = match self.opts.winsize_poll {
            Some(_) => pty::window_size(self.fd.as_fd()).ok(),
            None => None,
        };
        let mut next_ws = self
            .opts
            .winsize_poll
            .and_then(|p| Instant::now().checked_add(p));
        loop {
            let (want_out, stop) = {
                let st = self.shared.lock();
                (!st.out.is_empty(), st.stop)
            };
            let now = Instant::now();
            match stop {
                Stop::Now => return None,
                Stop::Flush(deadline) if !want_out || now >= deadline => return None,
                _ => {}
            }
            let reading = stop == Stop::Run && self.opts.read;

            let mut events: libc::c_short = 0;
            if reading {
                events |= libc::POLLIN;
            }
            if want_out {
                events |= libc::POLLOUT;
            }
            let mut fds = [
                libc::pollfd {
                    fd: self.fd.as_raw_fd(),
                    events,
                    revents: 0,
                },
                libc::pollfd {
                    fd: self.wake_r.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                },
            ];
            let timeout = poll_timeout(now, [next_ws, flush_deadline(stop)]);
            match fdio::poll(&mut fds, timeout) {
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
                Err(e) => return Some(errno_of(&e)),
            }
            if fds[1].revents != 0 {
                self.drain_wake();
            }
            let rev = fds[0].revents;
            if rev & libc::POLLNVAL != 0 {
                return Some(Closed::Errno(libc::EBADF));
            }
            if reading && rev & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 {
                match self.read_available(rev & libc::POLLIN == 0) {
                    Ok(true) => {}
                    Ok(false) => return None,
                    Err(reason) => return Some(reason),
                }
            }
            if want_out && rev & libc::POLLOUT != 0 {
                if let Err(reason) = self.write_pending() {
                    return reported(stop, reason);
                }
            } else if !reading && rev & (libc::POLLHUP | libc::POLLERR) != 0 {
                // Not reading, so no read reports the end; and output can never drain
                // to a hung-up terminal.
                return reported(stop, Closed::Eof);
            }
            if let (Some(interval), Some(due)) = (self.opts.winsize_poll, next_ws) {
                let now = Instant::now();
                if now >= due {
                    next_ws = now.checked_add(interval);
                    if let Ok(ws) = pty::window_size(self.fd.as_fd()) {
                        if last_ws != Some(ws) {
                            last_ws = Some(ws);
                            if !self.sink.deliver(Event::WinSize(ws)) {
                                return None;
                            }
                        }
                    }
                }
            }
        }
    }

    /// Reads what is there. `Ok(false)`: the receiver is gone. `hup_only`: poll
    /// reported a hangup or error without data, so "nothing to read" means the end.
    fn read_available(&mut self, hup_only: bool) -> Result<bool, Closed> {
        let mut buf = vec![0u8; READ_CHUNK];
        let mut got_any = false;
        for _ in 0..READS_PER_WAKE {
            match fdio::read(self.fd.as_fd(), &mut buf) {
                Ok(0) => return Err(Closed::Eof),
                Ok(n) => {
                    got_any = true;
                    if !self.sink.deliver(Event::Data(buf[..n].to_vec())) {
                        return Ok(false);
                    }
                    if n < buf.len() {
                        break;
                    }
                }
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => {}
                Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => {
                    if hup_only && !got_any {
                        return Err(Closed::Eof);
                    }
                    break;
                }
                Err(e) => return Err(errno_of(&e)),
            }
        }
        Ok(true)
    }

    /// Writes as much of the queue as the terminal takes now.
    fn write_pending(&mut self) -> Result<(), Closed> {
        loop {
            let chunk: Vec<u8> = {
                let st = self.shared.lock();
                let (front, _) = st.out.as_slices();
                front.iter().take(64 * 1024).copied().collect()
            };
            if chunk.is_empty() {
                return Ok(());
            }
            match fdio::write(self.fd.as_fd(), &chunk) {
                Ok(0) => return Ok(()),
                Ok(n) => {
                    let mut st = self.shared.lock();
                    let n = n.min(st.out.len());
                    st.out.drain(..n);
                    if n < chunk.len() {
                        return Ok(());
                    }
                }
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => {}
                Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => return Ok(()),
                Err(e) => return Err(errno_of(&e)),
            }
        }
    }

    fn drain_wake(&self) {
        let mut buf = [0u8; 64];
        while let Ok(n) = fdio::read(self.wake_r.as_fd(), &mut buf) {
            if n < buf.len() {
                break;
            }
        }
    }
}

/// A failure while flushing on request is not news to anyone: report only while
/// running.
fn reported(stop: Stop, reason: Closed) -> Option<Closed> {
    match stop {
        Stop::Run => Some(reason),
        _ => None,
    }
}

fn flush_deadline(stop: Stop) -> Option<Instant> {
    match stop {
        Stop::Flush(d) => Some(d),
        _ => None,
    }
}

/// Milliseconds until the earliest of the deadlines (rounded up), or -1 (no timeout).
fn poll_timeout(now: Instant, deadlines: [Option<Instant>; 2]) -> libc::c_int {
    match deadlines.iter().flatten().min() {
        None => -1,
        Some(d) => {
            let left = d.saturating_duration_since(now);
            let ms = left.as_micros().div_ceil(1000);
            libc::c_int::try_from(ms).unwrap_or(libc::c_int::MAX)
        }
    }
}

fn errno_of(e: &io::Error) -> Closed {
    Closed::Errno(e.raw_os_error().unwrap_or(libc::EIO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use linx_sys::pty;
    use std::sync::mpsc;

    struct ChanSink(mpsc::Sender<Event>);

    impl Sink for ChanSink {
        fn deliver(&mut self, event: Event) -> bool {
            self.0.send(event).is_ok()
        }
    }

    fn pair() -> (OwnedFd, OwnedFd) {
        let master = pty::open_master().unwrap();
        pty::unlock(master.as_fd()).unwrap();
        let slave = pty::open_peer(master.as_fd()).unwrap();
        (master, slave)
    }

    fn raw(fd: &OwnedFd) {
        let mut t = termios::get(fd.as_fd()).unwrap();
        t.make_raw();
        termios::set(fd.as_fd(), termios::When::Now, &t).unwrap();
    }

    /// A relay on a duplicate of `slave`, reporting to a channel.
    fn relay_on(slave: &OwnedFd, options: Options) -> (Relay, mpsc::Receiver<Event>) {
        let (tx, rx) = mpsc::channel();
        let fd = termios::dup_cloexec(slave.as_fd()).unwrap();
        (Relay::start(fd, ChanSink(tx), options).unwrap(), rx)
    }

    fn recv_data(rx: &mpsc::Receiver<Event>, want: usize) -> Vec<u8> {
        let mut got = Vec::new();
        while got.len() < want {
            match rx.recv_timeout(Duration::from_secs(5)).unwrap() {
                Event::Data(d) => got.extend(d),
                other => panic!("unexpected {other:?}"),
            }
        }
        got
    }

    #[test]
    fn bytes_flow_both_ways_in_order() {
        let (master, slave) = pair();
        raw(&slave);
        let (relay, rx) = relay_on(&slave, Options::default());

        // Typed on the "keyboard" (the master side) reaches the receiver.
        fdio::write_all(master.as_fd(), b"hello\x03").unwrap();
        assert_eq!(recv_data(&rx, 6), b"hello\x03");

        // Queued output reaches the master; raw mode leaves LF alone.
        relay.write(b"out\n").unwrap();
        let mut buf = [0u8; 16];
        let mut fds = [libc::pollfd {
            fd: master.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        fdio::poll(&mut fds, 5000).unwrap();
        let n = fdio::read(master.as_fd(), &mut buf).unwrap();
        assert_eq!(&buf[..n], b"out\n");
        relay.close(Duration::from_millis(100));
        assert!(relay.ended());
        assert_eq!(relay.write(b"x"), Err(RelayClosed));
    }

    #[test]
    fn output_larger_than_the_pty_buffer_arrives_whole() {
        let (master, slave) = pair();
        raw(&slave);
        let (relay, _rx) = relay_on(&slave, Options::default());
        let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        relay.write(&big).unwrap();
        // The terminal only takes a few KiB until someone reads: the rest waits queued.
        std::thread::sleep(Duration::from_millis(50));
        assert!(relay.pending() > 0);
        let mut got = Vec::new();
        fdio::set_nonblocking(master.as_fd(), false).unwrap();
        let mut buf = vec![0u8; 65536];
        while got.len() < big.len() {
            let n = fdio::read(master.as_fd(), &mut buf).unwrap();
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, big);
        relay.close(Duration::from_millis(100));
    }

    #[test]
    fn window_size_changes_are_reported() {
        let (master, slave) = pair();
        let (tx, rx) = mpsc::channel();
        let ws0 = WinSize {
            rows: 10,
            cols: 20,
            xpixel: 0,
            ypixel: 0,
        };
        pty::set_window_size(master.as_fd(), ws0).unwrap();
        let relay = Relay::start(
            termios::dup_cloexec(slave.as_fd()).unwrap(),
            ChanSink(tx),
            Options {
                read: true,
                winsize_poll: Some(Duration::from_millis(20)),
            },
        )
        .unwrap();
        // The starting size is the baseline, not news.
        assert!(rx.recv_timeout(Duration::from_millis(100)).is_err());
        let ws1 = WinSize {
            rows: 50,
            cols: 132,
            xpixel: 1,
            ypixel: 2,
        };
        pty::set_window_size(master.as_fd(), ws1).unwrap();
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(5)).unwrap(),
            Event::WinSize(ws1)
        );
        drop(relay);
    }

    #[test]
    fn hangup_of_the_other_side_is_reported_once() {
        let (master, slave) = pair();
        let (tx, rx) = mpsc::channel();
        let relay = Relay::start(master, ChanSink(tx), Options::default()).unwrap();
        drop(slave);
        match rx.recv_timeout(Duration::from_secs(5)).unwrap() {
            Event::Closed(Closed::Errno(e)) => assert_eq!(e, libc::EIO),
            Event::Closed(Closed::Eof) => {}
            other => panic!("unexpected {other:?}"),
        }
        // The thread ended: the channel's sender is gone.
        assert!(matches!(
            rx.recv_timeout(Duration::from_secs(5)),
            Err(mpsc::RecvTimeoutError::Disconnected)
        ));
        assert!(relay.ended());
        assert_eq!(relay.write(b"x"), Err(RelayClosed));
    }

    #[test]
    fn a_gone_receiver_stops_the_relay() {
        let (master, slave) = pair();
        raw(&slave);
        let (relay, rx) = relay_on(&slave, Options::default());
        drop(rx);
        fdio::write_all(master.as_fd(), b"x").unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while !relay.ended() {
            assert!(Instant::now() < deadline, "relay did not stop");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(relay.write(b"y"), Err(RelayClosed));
        relay.close(Duration::ZERO);
    }

    #[test]
    fn a_shared_blocking_description_gets_its_mode_back() {
        let (_master, slave) = pair();
        assert!(!termios::is_nonblocking(slave.as_fd()).unwrap());
        let (relay, _rx) = relay_on(&slave, Options::default());
        // The duplicate shares the description, so the relay's O_NONBLOCK shows here...
        assert!(termios::is_nonblocking(slave.as_fd()).unwrap());
        relay.close(Duration::ZERO);
        // ...and is gone again once the relay ended.
        assert!(!termios::is_nonblocking(slave.as_fd()).unwrap());
    }

    #[test]
    fn a_write_only_relay_leaves_input_alone_and_sees_the_hangup() {
        let (master, slave) = pair();
        raw(&slave);
        let (tx, rx) = mpsc::channel();
        let relay = Relay::start(
            termios::dup_cloexec(master.as_fd()).unwrap(),
            ChanSink(tx),
            Options {
                read: false,
                winsize_poll: None,
            },
        )
        .unwrap();
        relay.write(b"typed").unwrap();
        // The bytes reach the slave, and the relay did not read anything on the master.
        let mut buf = [0u8; 8];
        let mut got = Vec::new();
        while got.len() < 5 {
            let n = fdio::read(slave.as_fd(), &mut buf).unwrap();
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, b"typed");
        fdio::write_all(slave.as_fd(), b"printed").unwrap();
        assert!(rx.recv_timeout(Duration::from_millis(100)).is_err());
        let n = fdio::read(master.as_fd(), &mut buf).unwrap();
        assert_eq!(&buf[..n], b"printed");
        drop(slave);
        assert!(matches!(
            rx.recv_timeout(Duration::from_secs(5)).unwrap(),
            Event::Closed(_)
        ));
        relay.close(Duration::ZERO);
    }

    #[test]
    fn an_absurd_poll_interval_is_just_never() {
        let (master, slave) = pair();
        raw(&slave);
        let (relay, rx) = relay_on(
            &slave,
            Options {
                read: true,
                winsize_poll: Some(Duration::MAX),
            },
        );
        fdio::write_all(master.as_fd(), b"q").unwrap();
        assert_eq!(recv_data(&rx, 1), b"q");
        assert!(!relay.ended());
        relay.close(Duration::ZERO);
    }

    #[test]
    fn poll_timeout_rounds_up_and_picks_the_earliest() {
        let now = Instant::now();
        assert_eq!(poll_timeout(now, [None, None]), -1);
        let a = now + Duration::from_micros(1500);
        let b = now + Duration::from_millis(100);
        assert_eq!(poll_timeout(now, [Some(b), Some(a)]), 2);
        assert_eq!(poll_timeout(now, [Some(now), None]), 0);
    }
}
