//! The one place native failures become Erlang terms: `{stage_atom, errno_integer}`,
//! which `Linx.Netlink.Socket` turns into a `%Linx.Netlink.Error{}` (errno atom,
//! operation, object).

use linx_sys::SysError;
use rustler::{Atom, Encoder, Env, Term};

#[derive(Debug, thiserror::Error)]
pub enum NifError {
    #[error(transparent)]
    Sys(#[from] SysError),
}

impl Encoder for NifError {
    fn encode<'a>(&self, env: Env<'a>) -> Term<'a> {
        match self {
            NifError::Sys(err) => {
                // Stage names are a closed set of short static ASCII words, so atom
                // creation cannot fail or exhaust the atom table.
                let stage = Atom::from_str(env, err.stage).expect("static stage atom");
                (stage, err.errno).encode(env)
            }
        }
    }
}
