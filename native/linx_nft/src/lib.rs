//! `Linx.Netfilter.Native`: the nf_tables codec.
//!
//! * `encode`: mutations (`{op, family, map}` terms) => nf_tables messages and whole
//!   NFNL batches (BATCH_BEGIN with the generation id ... BATCH_END);
//! * `decode`: dump replies and multicast events => `{op, family, map}` terms;
//! * `schema`: the attribute layout of every expression and object kind, shared by both
//!   directions; `consts`: the kernel's numbers (cited headers).
//!
//! The codec is pure (`&[u8]` and `Value` in, `Value` and `Vec<u8>` out) and never
//! panics on any input; `nif` is the only module that touches the VM.
#![deny(unsafe_code)]

pub mod consts;
pub mod decode;
pub mod encode;
pub mod nl;
pub mod schema;
pub mod value;

// The enif_* symbols only exist inside the VM, so the test binary leaves the NIF
// layer out; it is exercised through ExUnit.
#[cfg(not(test))]
mod nif;
