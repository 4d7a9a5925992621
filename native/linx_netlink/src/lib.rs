//! `Linx.Netlink.Socket.Native`: the one thing netlink needs from native code.
//!
//! Everything else (framing, requests, decoding) is Elixir over OTP's `:socket`; only
//! opening a socket *inside another network namespace* and binding a `sockaddr_nl`
//! cannot be done from the BEAM. See `socket.rs` for the guarantees.
#![deny(unsafe_code)]

mod error;
mod socket;

rustler::init!("Elixir.Linx.Netlink.Socket.Native");
