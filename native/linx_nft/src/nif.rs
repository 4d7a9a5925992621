//! The NIF surface (`Linx.Netfilter.Native`): Term <-> Value conversion in one place,
//! and the codec entry points. Every entry point runs inside `catch_unwind`, so even a
//! bug in the codec comes back as `{:error, :internal}` instead of unwinding into the VM.
//! Each function has a `_dirty` twin on a dirty CPU scheduler; `Linx.Netfilter.Native`
//! picks it for large inputs.

use crate::decode;
use crate::encode::{self, EncodeError, Seg};
use crate::value::Value;
use rustler::sys::ErlNifTerm;
use rustler::types::binary::NewBinary;
use rustler::types::map::MapIterator;
use rustler::types::tuple::{get_tuple, make_tuple};
use rustler::{Atom, Binary, Encoder, Env, NifResult, Term, TermType};
use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Mutex, OnceLock};

mod atoms {
    rustler::atoms! { ok, error, nil, internal, bad_term, not_a_list }
}

const MAX_TERM_DEPTH: usize = 64;

/// Atom names by term, so that converting an atom costs a lookup, not a `String`: a
/// 10,000-rule batch holds ~170,000 atoms, and allocating each was most of the encoder's
/// time. An atom's term is an immediate that never changes while the VM runs (atoms are
/// never collected), so each name is fetched and leaked once (into `ATOM_NAMES`, capped;
/// past the cap names are allocated per use) and each scheduler thread keeps its own
/// lock-free index in front of it.
static ATOM_NAMES: OnceLock<Mutex<HashMap<ErlNifTerm, &'static str>>> = OnceLock::new();
const ATOM_CACHE_CAP: usize = 65_536;

thread_local! {
    static LOCAL_ATOM_NAMES: RefCell<HashMap<ErlNifTerm, &'static str, BuildHasherDefault<TermHasher>>> =
        RefCell::new(HashMap::default());
}

/// Atom terms are tagged indexes into the atom table (`ErlNifTerm` hashes as one word):
/// multiplying spreads them well enough for a map, without SipHash's cost.
#[derive(Default)]
struct TermHasher(u64);

impl Hasher for TermHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ *b as u64).wrapping_mul(0x100_0000_01b3);
        }
    }

    fn write_usize(&mut self, n: usize) {
        self.0 = (self.0.rotate_left(29) ^ n as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

fn atom_name(t: Term<'_>) -> Result<Cow<'static, str>, String> {
    let key = t.as_c_arg();
    if let Some(name) = LOCAL_ATOM_NAMES.with(|m| m.borrow().get(&key).copied()) {
        return Ok(Cow::Borrowed(name));
    }
    let name = t.atom_to_string().map_err(|_| "bad atom")?;
    let mut names = ATOM_NAMES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let leaked: &'static str = match names.get(&key) {
        Some(known) => known,
        None if names.len() >= ATOM_CACHE_CAP => return Ok(Cow::Owned(name)),
        None => {
            let leaked: &'static str = Box::leak(name.into_boxed_str());
            names.insert(key, leaked);
            leaked
        }
    };
    LOCAL_ATOM_NAMES.with(|m| m.borrow_mut().insert(key, leaked));
    Ok(Cow::Borrowed(leaked))
}

thread_local! {
    /// The decoder's way back: atoms by the address of their static name. A decoded
    /// ruleset holds an atom per map key (100,000 set elements: 100,000 `:key`s), and
    /// making an atom from its name takes the VM's atom-table lock and a hash each time.
    /// Static names live at fixed addresses, so the address identifies the name; the
    /// table holds at most one entry per name in the schema (or in `ATOM_NAMES`).
    static ATOMS_BY_NAME: RefCell<HashMap<(usize, usize), Atom, BuildHasherDefault<TermHasher>>> =
        RefCell::new(HashMap::default());
}

// A `&Cow`, not a `&str`: only a borrowed (static) name may be cached by its address.
#[allow(clippy::ptr_arg)]
fn atom_term<'a>(env: Env<'a>, name: &Cow<'static, str>) -> NifResult<Term<'a>> {
    let name: &'static str = match name {
        Cow::Borrowed(name) => name,
        Cow::Owned(name) => return Ok(Atom::from_str(env, name)?.encode(env)),
    };
    let key = (name.as_ptr() as usize, name.len());
    if let Some(atom) = ATOMS_BY_NAME.with(|m| m.borrow().get(&key).copied()) {
        return Ok(atom.encode(env));
    }
    let atom = Atom::from_str(env, name)?;
    ATOMS_BY_NAME.with(|m| m.borrow_mut().insert(key, atom));
    Ok(atom.encode(env))
}

fn to_value(t: Term<'_>, depth: usize) -> Result<Value, String> {
    if depth > MAX_TERM_DEPTH {
        return Err("term nested too deeply".into());
    }
    match t.get_type() {
        TermType::Atom => {
            let name = atom_name(t)?;
            Ok(match name.as_ref() {
                "nil" => Value::Nil,
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                _ => Value::Atom(name),
            })
        }
        TermType::Binary => {
            let b: Binary = t.decode().map_err(|_| "bad binary")?;
            Ok(Value::Bin(b.as_slice().to_vec()))
        }
        TermType::Integer => {
            if let Ok(n) = t.decode::<i64>() {
                Ok(Value::Int(n as i128))
            } else if let Ok(n) = t.decode::<u64>() {
                Ok(Value::Int(n as i128))
            } else {
                Err("integer out of the 64-bit range".into())
            }
        }
        TermType::List => {
            let it = t.into_list_iterator().map_err(|_| "bad list")?;
            let mut out = Vec::new();
            for item in it {
                out.push(to_value(item, depth + 1)?);
            }
            Ok(Value::List(out))
        }
        TermType::Tuple => {
            let items = get_tuple(t).map_err(|_| "bad tuple")?;
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                out.push(to_value(item, depth + 1)?);
            }
            Ok(Value::Tuple(out))
        }
        TermType::Map => {
            let it = MapIterator::new(t).ok_or("bad map")?;
            let mut out = Vec::new();
            for (k, v) in it {
                out.push((to_value(k, depth + 1)?, to_value(v, depth + 1)?));
            }
            Ok(Value::Map(out))
        }
        other => Err(format!("unsupported term type {other:?}")),
    }
}

fn bin_term<'a>(env: Env<'a>, bytes: &[u8]) -> Term<'a> {
    let mut b = NewBinary::new(env, bytes.len());
    b.as_mut_slice().copy_from_slice(bytes);
    let b: Binary = b.into();
    b.encode(env)
}

fn to_term<'a>(env: Env<'a>, v: &Value) -> NifResult<Term<'a>> {
    Ok(match v {
        Value::Nil => atoms::nil().encode(env),
        Value::Bool(b) => b.encode(env),
        Value::Int(n) => {
            if let Ok(i) = i64::try_from(*n) {
                i.encode(env)
            } else if let Ok(u) = u64::try_from(*n) {
                u.encode(env)
            } else {
                return Err(rustler::Error::BadArg);
            }
        }
        // Only static names reach here from the decoder (see value.rs).
        Value::Atom(a) => atom_term(env, a)?,
        Value::Bin(b) => bin_term(env, b),
        Value::List(items) => {
            let terms: NifResult<Vec<Term<'a>>> = items.iter().map(|i| to_term(env, i)).collect();
            terms?.encode(env)
        }
        Value::Tuple(items) => {
            let terms: NifResult<Vec<Term<'a>>> = items.iter().map(|i| to_term(env, i)).collect();
            make_tuple(env, &terms?)
        }
        Value::Map(pairs) => {
            let mut kv = Vec::with_capacity(pairs.len());
            for (k, v) in pairs {
                kv.push((to_term(env, k)?, to_term(env, v)?));
            }
            Term::map_from_pairs(env, &kv)?
        }
    })
}

fn path_term<'a>(env: Env<'a>, path: &[Seg]) -> NifResult<Term<'a>> {
    let mut out = Vec::with_capacity(path.len());
    for seg in path {
        out.push(match seg {
            // Keys are schema names or keys the caller sent (already atoms in the VM).
            Seg::Key(k) => match Atom::existing_from_str(env, k) {
                Ok(a) => a.encode(env),
                Err(_) => bin_term(env, k.as_bytes()),
            },
            Seg::Index(i) => (*i as u64).encode(env),
        });
    }
    Ok(out.encode(env))
}

fn encode_error<'a>(env: Env<'a>, e: &EncodeError) -> NifResult<Term<'a>> {
    Ok((path_term(env, &e.path)?, bin_term(env, e.reason.as_bytes())).encode(env))
}

fn guarded<'a>(env: Env<'a>, f: impl FnOnce() -> NifResult<Term<'a>>) -> NifResult<Term<'a>> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(_) => Ok((atoms::error(), atoms::internal()).encode(env)),
    }
}

fn bad_term<'a>(env: Env<'a>, why: String) -> NifResult<Term<'a>> {
    Ok((
        atoms::error(),
        (atoms::bad_term(), bin_term(env, why.as_bytes())),
    )
        .encode(env))
}

fn batch_impl<'a>(
    env: Env<'a>,
    mutations: Term<'a>,
    base_seq: u32,
    genid: Term<'a>,
) -> NifResult<Term<'a>> {
    guarded(env, || {
        let genid = match to_value(genid, 0) {
            Ok(Value::Nil) => None,
            Ok(Value::Int(n)) if (0..=u32::MAX as i128).contains(&n) => Some(n as u32),
            _ => return bad_term(env, "genid must be nil or a u32".into()),
        };
        let items = match mutations.into_list_iterator() {
            Ok(items) => items,
            Err(_) => return Ok((atoms::error(), atoms::not_a_list()).encode(env)),
        };
        let mut batch = encode::Batch::default();
        for (i, item) in items.enumerate() {
            let mutation = match to_value(item, 1) {
                Ok(m) => m,
                Err(why) => return bad_term(env, why),
            };
            if let Err(e) = batch.push(i, &mutation) {
                return batch_error(env, i, &e);
            }
        }
        match batch.finish(base_seq, genid) {
            Ok((bytes, index)) => {
                let idx: Vec<u64> = index.iter().map(|i| *i as u64).collect();
                Ok((atoms::ok(), bin_term(env, &bytes), idx).encode(env))
            }
            Err(e) => batch_error(env, 0, &e),
        }
    })
}

fn batch_error<'a>(env: Env<'a>, i: usize, e: &EncodeError) -> NifResult<Term<'a>> {
    Ok((
        atoms::error(),
        make_tuple(env, &[(i as u64).encode(env), encode_error(env, e)?]),
    )
        .encode(env))
}

#[rustler::nif(name = "nif_encode_batch")]
fn encode_batch<'a>(env: Env<'a>, m: Term<'a>, seq: u32, genid: Term<'a>) -> NifResult<Term<'a>> {
    batch_impl(env, m, seq, genid)
}

#[rustler::nif(name = "nif_encode_batch_dirty", schedule = "DirtyCpu")]
fn encode_batch_dirty<'a>(
    env: Env<'a>,
    m: Term<'a>,
    seq: u32,
    genid: Term<'a>,
) -> NifResult<Term<'a>> {
    batch_impl(env, m, seq, genid)
}

/// One mutation => `{:ok, [{nlmsg_type, nlm_flags, payload}]}` (payload = nfgenmsg +
/// attributes), for requests sent outside a batch (dumps, GETGEN) and for tests.
#[rustler::nif(name = "nif_encode_messages")]
fn encode_messages<'a>(env: Env<'a>, mutation: Term<'a>) -> NifResult<Term<'a>> {
    guarded(env, || {
        let v = match to_value(mutation, 0) {
            Ok(v) => v,
            Err(why) => return bad_term(env, why),
        };
        match encode::encode_mutation(&v) {
            Ok(outs) => {
                let mut items = Vec::with_capacity(outs.len());
                for o in &outs {
                    items.push(make_tuple(
                        env,
                        &[
                            o.nlmsg_type().encode(env),
                            o.flags.encode(env),
                            bin_term(env, &o.payload()),
                        ],
                    ));
                }
                Ok((atoms::ok(), items).encode(env))
            }
            Err(e) => Ok((atoms::error(), encode_error(env, &e)?).encode(env)),
        }
    })
}

fn decode_one<'a>(env: Env<'a>, ty: u16, payload: &[u8]) -> NifResult<Term<'a>> {
    match decode::decode_message(ty, payload) {
        Ok(v) => Ok((atoms::ok(), to_term(env, &v)?).encode(env)),
        Err(reason) => Ok((atoms::error(), Atom::from_str(env, reason)?).encode(env)),
    }
}

/// `{nlmsg_type, payload}` => `{:ok, {op, family, map}}` | `{:error, reason}`.
#[rustler::nif(name = "nif_decode")]
fn decode<'a>(env: Env<'a>, ty: u16, payload: Binary<'a>) -> NifResult<Term<'a>> {
    guarded(env, || decode_one(env, ty, payload.as_slice()))
}

fn decode_many_impl<'a>(env: Env<'a>, list: Term<'a>) -> NifResult<Term<'a>> {
    guarded(env, || {
        let it = list.into_list_iterator()?;
        let mut out = Vec::new();
        for item in it {
            let (ty, payload): (u16, Binary) = item.decode()?;
            out.push(
                match catch_unwind(AssertUnwindSafe(|| decode_one(env, ty, payload.as_slice()))) {
                    Ok(r) => r?,
                    Err(_) => (atoms::error(), atoms::internal()).encode(env),
                },
            );
        }
        Ok(out.encode(env))
    })
}

/// `[{type, payload}]` => `[{:ok, term} | {:error, reason}]`.
#[rustler::nif(name = "nif_decode_many")]
fn decode_many<'a>(env: Env<'a>, list: Term<'a>) -> NifResult<Term<'a>> {
    decode_many_impl(env, list)
}

#[rustler::nif(name = "nif_decode_many_dirty", schedule = "DirtyCpu")]
fn decode_many_dirty<'a>(env: Env<'a>, list: Term<'a>) -> NifResult<Term<'a>> {
    decode_many_impl(env, list)
}

fn decode_buffer_impl<'a>(env: Env<'a>, buf: Binary<'a>) -> NifResult<Term<'a>> {
    guarded(env, || match decode::decode_buffer(buf.as_slice()) {
        Ok(items) => Ok((atoms::ok(), to_term(env, &Value::List(items))?).encode(env)),
        Err(reason) => Ok((atoms::error(), Atom::from_str(env, reason)?).encode(env)),
    })
}

/// A datagram of netlink messages => `{:ok, [decoded]}` | `{:error, :bad_framing}`.
#[rustler::nif(name = "nif_decode_buffer")]
fn decode_buffer<'a>(env: Env<'a>, buf: Binary<'a>) -> NifResult<Term<'a>> {
    decode_buffer_impl(env, buf)
}

#[rustler::nif(name = "nif_decode_buffer_dirty", schedule = "DirtyCpu")]
fn decode_buffer_dirty<'a>(env: Env<'a>, buf: Binary<'a>) -> NifResult<Term<'a>> {
    decode_buffer_impl(env, buf)
}

/// The codec's constant tables, so Elixir-side validation can be checked against them.
#[rustler::nif(name = "nif_tables")]
fn tables(env: Env<'_>) -> NifResult<Term<'_>> {
    use crate::consts::*;
    let named: &[(&str, Table)] = &[
        ("meta_keys", META_KEYS),
        ("ct_keys", CT_KEYS),
        ("payload_bases", PAYLOAD_BASES),
        ("cmp_ops", CMP_OPS),
        ("nat_flags", NAT_FLAGS),
        ("log_flags", LOG_FLAGS),
        ("log_levels", LOG_LEVELS),
        ("set_flags", SET_FLAGS),
        ("object_types", OBJECT_TYPES),
        ("families", FAMILIES),
        ("reject_types", REJECT_TYPES),
        ("fib_flags", FIB_FLAGS),
        ("fib_results", FIB_RESULTS),
        ("socket_keys", SOCKET_KEYS),
        ("exthdr_ops", EXTHDR_OPS),
        ("table_flags", TABLE_FLAGS),
        ("chain_flags", CHAIN_FLAGS),
        ("msg_types", MSG_TYPES),
    ];
    let mut pairs = Vec::new();
    for (name, table) in named {
        let mut entries = Vec::new();
        for (v, n) in table.iter() {
            entries.push((*v, Atom::from_str(env, n)?).encode(env));
        }
        pairs.push((Atom::from_str(env, name)?.encode(env), entries.encode(env)));
    }
    let mut exprs = Vec::new();
    for (n, _) in crate::schema::EXPRS {
        exprs.push(Atom::from_str(env, n)?.encode(env));
    }
    pairs.push((
        Atom::from_str(env, "expressions")?.encode(env),
        exprs.encode(env),
    ));
    Term::map_from_pairs(env, &pairs)
}

rustler::init!("Elixir.Linx.Netfilter.Native");
