//! `Linx.Tty.Native`: the terminal primitives `Linx.Tty` needs from native code.
//!
//! * [`terminal`]: opening terminals (the controlling one, a private copy of a given
//!   descriptor, a new pty), raw mode with the previous attributes saved, window size.
//!   Every descriptor is close-on-exec and owned by a resource that restores and closes
//!   it when garbage collected.
//! * [`relay`]: one thread per attached terminal that reads input as it comes, writes
//!   queued output as the terminal takes it, and watches the window size, so no BEAM
//!   scheduler ever blocks on a terminal.
//! * [`nif`]: the entry points and their term shapes.
//!
//! `unsafe` lives only in `linx_sys` (`termios`, `pty`, `fdio`, `sys`).
#![deny(unsafe_code)]

pub mod relay;
pub mod terminal;

// The enif_* symbols only exist inside the VM, so the test binary leaves the NIF layer
// out; ExUnit exercises it.
#[cfg(not(test))]
mod nif;
