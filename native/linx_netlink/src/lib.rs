//! `Linx.Netlink.Socket.Native`: the one thing netlink needs from native code.
//!
//! Everything else (framing, requests, decoding) is Elixir over OTP's `:socket`; only
//! opening a socket *inside another network namespace* and binding a `sockaddr_nl`
//! cannot be done from the BEAM. See `socket.rs` for the guarantees. `link.rs` adds
//! what links need outside netlink: tun/tap creation (`/dev/net/tun` ioctls) and
//! namespace files opened for `IFLA_NET_NS_FD`.
#![deny(unsafe_code)]

mod error;
mod link;
mod socket;

rustler::init!("Elixir.Linx.Netlink.Socket.Native");
