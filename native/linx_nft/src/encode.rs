//! Mutations (Elixir terms, see `Linx.Netfilter.Native` for the format) => nf_tables
//! netlink messages, and whole NFNL batches.

use crate::consts::*;
use crate::nl::{self, TooLong, Writer};
use crate::schema::{self, Field, Kind};
use crate::value::Value;
use std::fmt;

/// Where in the input term an error is: map keys and list indexes, outermost first.
#[derive(Debug, Clone, PartialEq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

#[derive(Debug, Clone, PartialEq)]
pub struct EncodeError {
    pub path: Vec<Seg>,
    pub reason: String,
}

impl EncodeError {
    fn new(reason: impl Into<String>) -> Self {
        EncodeError {
            path: Vec::new(),
            reason: reason.into(),
        }
    }

    fn at_key(mut self, key: &str) -> Self {
        self.path.insert(0, Seg::Key(key.to_string()));
        self
    }

    fn at_index(mut self, i: usize) -> Self {
        self.path.insert(0, Seg::Index(i));
        self
    }
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for seg in &self.path {
            match seg {
                Seg::Key(k) => write!(f, "{k}.")?,
                Seg::Index(i) => write!(f, "[{i}].")?,
            }
        }
        write!(f, " {}", self.reason)
    }
}

impl From<TooLong> for EncodeError {
    fn from(_: TooLong) -> Self {
        EncodeError::new("attribute longer than the 65535 bytes netlink allows")
    }
}

type R<T> = Result<T, EncodeError>;

fn describe(v: &Value) -> String {
    match v {
        Value::Nil => "nil".into(),
        Value::Bool(b) => b.to_string(),
        Value::Int(n) => n.to_string(),
        Value::Atom(a) => format!(":{a}"),
        Value::Bin(b) => format!("a {}-byte binary", b.len()),
        Value::List(l) => format!("a list of {}", l.len()),
        Value::Tuple(t) => format!("a {}-tuple", t.len()),
        Value::Map(_) => "a map".into(),
    }
}

fn int_in(v: &Value, min: i128, max: i128, what: &str) -> R<i128> {
    match v {
        Value::Int(n) if *n >= min && *n <= max => Ok(*n),
        other => Err(EncodeError::new(format!(
            "expected {what} ({min}..{max}), got {}",
            describe(other)
        ))),
    }
}

fn u32_of(v: &Value) -> R<u32> {
    int_in(v, 0, u32::MAX as i128, "an unsigned 32-bit integer").map(|n| n as u32)
}

fn u64_of(v: &Value) -> R<u64> {
    int_in(v, 0, u64::MAX as i128, "an unsigned 64-bit integer").map(|n| n as u64)
}

fn bytes_of(v: &Value) -> R<&[u8]> {
    v.as_bin()
        .ok_or_else(|| EncodeError::new(format!("expected a binary, got {}", describe(v))))
}

/// A string for a NUL-terminated attribute: a binary without NUL bytes.
fn name_of_value(v: &Value) -> R<&[u8]> {
    let b = bytes_of(v)?;
    if b.contains(&0) {
        return Err(EncodeError::new("string contains a NUL byte"));
    }
    Ok(b)
}

fn enum_of(v: &Value, table: Table, max: u32) -> R<u32> {
    match v {
        Value::Atom(a) => value_of(table, a).ok_or_else(|| {
            let names: Vec<_> = table.iter().map(|(_, n)| *n).collect();
            EncodeError::new(format!("unknown value :{a} (expected one of {names:?})"))
        }),
        Value::Int(_) => int_in(v, 0, max as i128, "an integer").map(|n| n as u32),
        other => Err(EncodeError::new(format!(
            "expected an atom or integer, got {}",
            describe(other)
        ))),
    }
}

fn flags_of(v: &Value, table: Table, max: u32) -> R<u32> {
    match v {
        Value::Int(_) => int_in(v, 0, max as i128, "a flag bitmask").map(|n| n as u32),
        Value::List(items) => {
            let mut acc = 0u32;
            for (i, item) in items.iter().enumerate() {
                acc |= enum_of(item, table, max).map_err(|e| e.at_index(i))?;
            }
            Ok(acc)
        }
        other => Err(EncodeError::new(format!(
            "expected a list of flags, got {}",
            describe(other)
        ))),
    }
}

/// Checks that a map only has the keys `allowed`; a misspelt key is an error rather
/// than an attribute silently left out.
fn check_keys(map: &Value, allowed: &[&str]) -> R<()> {
    match map {
        Value::Map(pairs) => {
            for (k, _) in pairs {
                match k.as_atom() {
                    Some(a) if allowed.contains(&a) => {}
                    Some(a) => {
                        return Err(EncodeError::new(format!(
                            "unknown key :{a} (expected one of {allowed:?})"
                        )))
                    }
                    None => return Err(EncodeError::new("map keys must be atoms")),
                }
            }
            Ok(())
        }
        other => Err(EncodeError::new(format!(
            "expected a map, got {}",
            describe(other)
        ))),
    }
}

/// NFTA_DATA_VALUE for a binary, NFTA_DATA_VERDICT for `%{verdict: .., chain: ..}`.
pub fn put_data(w: &mut Writer, ty: u16, v: &Value) -> R<()> {
    let nest = w.begin_nest(ty);
    match v {
        Value::Bin(b) => {
            // NFT_DATA_VALUE_MAXLEN
            if b.is_empty() || b.len() > 64 {
                return Err(EncodeError::new(format!(
                    "a data value is 1..64 bytes, got {}",
                    b.len()
                )));
            }
            w.attr(1, b)?;
        }
        Value::Map(_) => {
            check_keys(v, &["verdict", "chain", "chain_id"])?;
            let code = match v.get_some("verdict") {
                Some(Value::Atom(a)) => verdict_code(a).ok_or_else(|| {
                    EncodeError::new(format!("unknown verdict :{a}")).at_key("verdict")
                })?,
                Some(n @ Value::Int(_)) => {
                    int_in(n, i32::MIN as i128, u32::MAX as i128, "a verdict code")
                        .map(|n| n as i64 as i32)
                        .map_err(|e| e.at_key("verdict"))?
                }
                _ => return Err(EncodeError::new("a verdict needs :verdict")),
            };
            let inner = w.begin_nest(2);
            w.be32(1, code as u32)?;
            if let Some(c) = v.get_some("chain") {
                w.string(2, name_of_value(c).map_err(|e| e.at_key("chain"))?)?;
            }
            if let Some(id) = v.get_some("chain_id") {
                w.be32(3, u32_of(id).map_err(|e| e.at_key("chain_id"))?)?;
            }
            w.end_nest(inner)?;
        }
        other => {
            return Err(EncodeError::new(format!(
                "expected a binary value or a verdict map, got {}",
                describe(other)
            )))
        }
    }
    w.end_nest(nest)?;
    Ok(())
}

fn put_field(w: &mut Writer, field: &Field, v: &Value) -> R<()> {
    let id = field.id;
    match field.kind {
        Kind::Reg | Kind::U32 => w.be32(id, u32_of(v)?)?,
        Kind::U8 => w.u8(id, int_in(v, 0, 255, "an 8-bit integer")? as u8)?,
        Kind::U16 => w.be16(id, int_in(v, 0, 65535, "a 16-bit integer")? as u16)?,
        Kind::U64 => w.be64(id, u64_of(v)?)?,
        Kind::U32Host => w.attr(id, &u32_of(v)?.to_ne_bytes())?,
        Kind::Str => w.string(id, name_of_value(v)?)?,
        Kind::Bin => w.attr(id, bytes_of(v)?)?,
        Kind::Data => put_data(w, id, v)?,
        Kind::Enum8(t) => w.u8(id, enum_of(v, t, 255)? as u8)?,
        Kind::Enum32(t) => w.be32(id, enum_of(v, t, u32::MAX)?)?,
        Kind::Flags16(t) => w.be16(id, flags_of(v, t, 0xffff)? as u16)?,
        Kind::Flags32(t) => w.be32(id, flags_of(v, t, u32::MAX)?)?,
        Kind::Expr => {
            let nest = w.begin_nest(id);
            put_expr_body(w, v)?;
            w.end_nest(nest)?;
        }
        Kind::Exprs => put_expr_list(w, id, v)?,
        Kind::U32Array => {
            let items = v.as_list().ok_or_else(|| {
                EncodeError::new(format!(
                    "expected a list of {{id, value}}, got {}",
                    describe(v)
                ))
            })?;
            let nest = w.begin_nest(id);
            for (i, item) in items.iter().enumerate() {
                match item {
                    Value::Tuple(t) if t.len() == 2 => {
                        let k = int_in(&t[0], 1, 0x3fff, "an attribute number")
                            .map_err(|e| e.at_index(i))?;
                        let val = u32_of(&t[1]).map_err(|e| e.at_index(i))?;
                        w.be32(k as u16, val)?;
                    }
                    other => {
                        return Err(EncodeError::new(format!(
                            "expected {{id, value}}, got {}",
                            describe(other)
                        ))
                        .at_index(i))
                    }
                }
            }
            w.end_nest(nest)?;
        }
    }
    Ok(())
}

/// Writes the attributes of `fields` found in `map` (nil values are skipped).
fn put_fields(w: &mut Writer, fields: &[Field], map: &Value) -> R<()> {
    let allowed: Vec<&str> = fields.iter().map(|f| f.key).collect();
    check_keys(map, &allowed)?;
    for field in fields {
        if let Some(v) = map.get_some(field.key) {
            put_field(w, field, v).map_err(|e| e.at_key(field.key))?;
        }
    }
    Ok(())
}

/// NFTA_EXPR_NAME + NFTA_EXPR_DATA for `{name, data}`. A known name (atom) is encoded
/// from its schema; a binary name with `%{raw: bytes}` sends the bytes untouched (an
/// expression this codec does not model, as the decoder returns it).
fn put_expr_body(w: &mut Writer, v: &Value) -> R<()> {
    let (name, data) = match v {
        Value::Tuple(t) if t.len() == 2 => (&t[0], &t[1]),
        other => {
            return Err(EncodeError::new(format!(
                "an expression is {{name, data}}, got {}",
                describe(other)
            )))
        }
    };
    match name {
        Value::Atom(a) => {
            let (kname, fields) = schema::expr_schema(a)
                .ok_or_else(|| EncodeError::new(format!("unknown expression :{a}")))?;
            w.string(1, kname.as_bytes())?;
            let nest = w.begin_nest(2);
            put_fields(w, fields, data).map_err(|e| e.at_key(kname))?;
            w.end_nest(nest)?;
        }
        Value::Bin(_) => {
            check_keys(data, &["raw"])?;
            let raw = data.get_some("raw").ok_or_else(|| {
                EncodeError::new("an expression named by a string needs %{raw: bytes}")
            })?;
            w.string(1, name_of_value(name)?)?;
            let nest = w.begin_nest(2);
            w.buf.extend_from_slice(bytes_of(raw)?);
            w.end_nest(nest)?;
        }
        other => {
            return Err(EncodeError::new(format!(
                "an expression name is an atom, got {}",
                describe(other)
            )))
        }
    }
    Ok(())
}

fn put_expr_list(w: &mut Writer, id: u16, v: &Value) -> R<()> {
    let items = v.as_list().ok_or_else(|| {
        EncodeError::new(format!(
            "expected a list of expressions, got {}",
            describe(v)
        ))
    })?;
    let nest = w.begin_nest(id);
    for (i, e) in items.iter().enumerate() {
        let elem = w.begin_nest(1); // NFTA_LIST_ELEM
        put_expr_body(w, e).map_err(|err| err.at_index(i))?;
        w.end_nest(elem)?;
    }
    w.end_nest(nest)?;
    Ok(())
}

/// Userdata TLVs (libnftnl's udata: type u8, length u8, value). Strings are sent
/// NUL-terminated, as libnftnl's nftnl_udata_put_strz does.
fn udata(entries: &[(u8, &[u8])]) -> R<Vec<u8>> {
    let mut out = Vec::new();
    for (ty, val) in entries {
        if val.len() > 255 {
            return Err(EncodeError::new("userdata entry longer than 255 bytes"));
        }
        out.push(*ty);
        out.push(val.len() as u8);
        out.extend_from_slice(val);
    }
    // NFT_USERDATA_MAXLEN
    if out.len() > 256 {
        return Err(EncodeError::new("userdata longer than 256 bytes"));
    }
    Ok(out)
}

fn strz(b: &[u8]) -> Vec<u8> {
    let mut v = b.to_vec();
    v.push(0);
    v
}

/// Writes USERDATA from `:userdata` (raw) or from `:comment` (and, for rules, `:tag`).
fn put_userdata(w: &mut Writer, ty: u16, map: &Value, comment_type: u8, tag: bool) -> R<()> {
    if let Some(raw) = map.get_some("userdata") {
        w.attr(ty, bytes_of(raw).map_err(|e| e.at_key("userdata"))?)?;
        return Ok(());
    }
    let mut entries: Vec<(u8, Vec<u8>)> = Vec::new();
    if let Some(c) = map.get_some("comment") {
        let c = name_of_value(c).map_err(|e| e.at_key("comment"))?;
        if c.len() > 254 {
            return Err(EncodeError::new("a comment is at most 254 bytes").at_key("comment"));
        }
        entries.push((comment_type, strz(c)));
    }
    if tag {
        if let Some(t) = map.get_some("tag") {
            let t = name_of_value(t).map_err(|e| e.at_key("tag"))?;
            entries.push((UDATA_RULE_TAG, strz(t)));
        }
    }
    if !entries.is_empty() {
        let refs: Vec<(u8, &[u8])> = entries.iter().map(|(t, v)| (*t, v.as_slice())).collect();
        w.attr(ty, &udata(&refs).map_err(|e| e.at_key("comment"))?)?;
    }
    Ok(())
}

fn put_str(w: &mut Writer, map: &Value, key: &str, id: u16) -> R<()> {
    if let Some(v) = map.get_some(key) {
        w.string(id, name_of_value(v).map_err(|e| e.at_key(key))?)?;
    }
    Ok(())
}

fn put_be32(w: &mut Writer, map: &Value, key: &str, id: u16) -> R<()> {
    if let Some(v) = map.get_some(key) {
        w.be32(id, u32_of(v).map_err(|e| e.at_key(key))?)?;
    }
    Ok(())
}

fn put_be64(w: &mut Writer, map: &Value, key: &str, id: u16) -> R<()> {
    if let Some(v) = map.get_some(key) {
        w.be64(id, u64_of(v).map_err(|e| e.at_key(key))?)?;
    }
    Ok(())
}

fn put_flags(w: &mut Writer, map: &Value, key: &str, id: u16, table: Table) -> R<()> {
    if let Some(v) = map.get_some(key) {
        w.be32(id, flags_of(v, table, u32::MAX).map_err(|e| e.at_key(key))?)?;
    }
    Ok(())
}

fn put_devices(w: &mut Writer, id: u16, v: &Value) -> R<()> {
    let devs = v.as_list().ok_or_else(|| {
        EncodeError::new(format!(
            "expected a list of device names, got {}",
            describe(v)
        ))
    })?;
    let nest = w.begin_nest(id);
    for (i, d) in devs.iter().enumerate() {
        w.string(1, name_of_value(d).map_err(|e| e.at_index(i))?)?; // NFTA_DEVICE_NAME
    }
    w.end_nest(nest)?;
    Ok(())
}

const NLM_FLAG_NAMES: &[(u16, &str)] = &[
    (NLM_F_CREATE, "create"),
    (NLM_F_EXCL, "excl"),
    (NLM_F_APPEND, "append"),
    (NLM_F_REPLACE, "replace"),
    (NLM_F_ROOT | NLM_F_MATCH, "dump"),
    (NLM_F_ACK, "ack"),
];

fn nlm_flags(map: &Value, default: u16) -> R<u16> {
    match map.get_some("nlm_flags") {
        None => Ok(default),
        Some(Value::List(items)) => {
            let mut acc = 0u16;
            for (i, it) in items.iter().enumerate() {
                let name = it.as_atom().ok_or_else(|| {
                    EncodeError::new("netlink flags are atoms")
                        .at_index(i)
                        .at_key("nlm_flags")
                })?;
                let bit = NLM_FLAG_NAMES
                    .iter()
                    .find(|(_, n)| *n == name)
                    .map(|(b, _)| *b)
                    .ok_or_else(|| {
                        EncodeError::new(format!("unknown netlink flag :{name}"))
                            .at_index(i)
                            .at_key("nlm_flags")
                    })?;
                acc |= bit;
            }
            Ok(acc)
        }
        Some(other) => Err(EncodeError::new(format!(
            "expected a list of netlink flags, got {}",
            describe(other)
        ))
        .at_key("nlm_flags")),
    }
}

/// One netlink message before framing.
#[derive(Debug, Clone, PartialEq)]
pub struct Out {
    /// nf_tables message type (NFT_MSG_*), without the subsystem byte.
    pub msg: u16,
    pub flags: u16,
    pub family: u8,
    pub attrs: Vec<u8>,
}

impl Out {
    pub fn nlmsg_type(&self) -> u16 {
        (NFNL_SUBSYS_NFTABLES << 8) | self.msg
    }
}

fn family_of(v: &Value) -> R<u8> {
    enum_of(v, FAMILIES, 255).map(|n| n as u8)
}

const TABLE_KEYS: &[&str] = &[
    "name",
    "handle",
    "flags",
    "userdata",
    "comment",
    "nlm_flags",
];
const CHAIN_KEYS: &[&str] = &[
    "table",
    "name",
    "handle",
    "hook",
    "priority",
    "device",
    "devices",
    "policy",
    "type",
    "flags",
    "id",
    "userdata",
    "comment",
    "nlm_flags",
];
const RULE_KEYS: &[&str] = &[
    "table",
    "chain",
    "handle",
    "position",
    "exprs",
    "userdata",
    "comment",
    "tag",
    "id",
    "position_id",
    "chain_id",
    "nlm_flags",
];
const SET_KEYS: &[&str] = &[
    "table",
    "name",
    "handle",
    "flags",
    "key_type",
    "key_len",
    "data_type",
    "data_len",
    "obj_type",
    "policy",
    "size",
    "concat",
    "timeout",
    "gc_interval",
    "id",
    "userdata",
    "comment",
    "key_byteorder",
    "data_byteorder",
    "exprs",
    "nlm_flags",
];
const SETELEM_KEYS: &[&str] = &["table", "set", "set_id", "elements", "nlm_flags"];
const ELEM_KEYS: &[&str] = &[
    "key",
    "key_end",
    "data",
    "flags",
    "timeout",
    "expiration",
    "userdata",
    "comment",
    "exprs",
    "objref",
];
const OBJ_KEYS: &[&str] = &[
    "table",
    "name",
    "handle",
    "type",
    "data",
    "userdata",
    "comment",
    "nlm_flags",
];
const FLOWTABLE_KEYS: &[&str] = &[
    "table",
    "name",
    "handle",
    "hook",
    "priority",
    "devices",
    "flags",
    "nlm_flags",
];

fn table_attrs(w: &mut Writer, m: &Value) -> R<()> {
    check_keys(m, TABLE_KEYS)?;
    put_str(w, m, "name", 1)?;
    put_flags(w, m, "flags", 2, TABLE_FLAGS)?;
    put_be64(w, m, "handle", 4)?;
    put_userdata(w, 6, m, UDATA_COMMENT, false)
}

fn hook_num(v: &Value, family: u8) -> R<u32> {
    enum_of(v, hooks_for(family), u32::MAX)
}

fn chain_attrs(w: &mut Writer, m: &Value, family: u8) -> R<()> {
    check_keys(m, CHAIN_KEYS)?;
    put_str(w, m, "table", 1)?;
    put_be64(w, m, "handle", 2)?;
    put_str(w, m, "name", 3)?;
    if let Some(hook) = m.get_some("hook") {
        let nest = w.begin_nest(4);
        w.be32(1, hook_num(hook, family).map_err(|e| e.at_key("hook"))?)?;
        let prio = m
            .get_some("priority")
            .ok_or_else(|| EncodeError::new("a base chain needs a priority").at_key("priority"))?;
        let prio = int_in(
            prio,
            i32::MIN as i128,
            i32::MAX as i128,
            "a 32-bit priority",
        )
        .map_err(|e| e.at_key("priority"))?;
        w.be32(2, prio as i32 as u32)?;
        put_str(w, m, "device", 3)?;
        if let Some(devs) = m.get_some("devices") {
            put_devices(w, 4, devs).map_err(|e| e.at_key("devices"))?;
        }
        w.end_nest(nest)?;
    }
    if let Some(p) = m.get_some("policy") {
        w.be32(
            5,
            enum_of(p, POLICIES, u32::MAX).map_err(|e| e.at_key("policy"))?,
        )?;
    }
    if let Some(t) = m.get_some("type") {
        let name = match t {
            Value::Atom(a) if CHAIN_TYPES.contains(&a.as_ref()) => a.as_bytes().to_vec(),
            Value::Atom(a) => {
                return Err(EncodeError::new(format!(
                    "unknown chain type :{a} (expected one of {CHAIN_TYPES:?})"
                ))
                .at_key("type"))
            }
            other => name_of_value(other).map_err(|e| e.at_key("type"))?.to_vec(),
        };
        w.string(7, &name)?;
    }
    put_flags(w, m, "flags", 10, CHAIN_FLAGS)?;
    put_be32(w, m, "id", 11)?;
    put_userdata(w, 12, m, UDATA_COMMENT, false)
}

fn rule_attrs(w: &mut Writer, m: &Value) -> R<()> {
    check_keys(m, RULE_KEYS)?;
    put_str(w, m, "table", 1)?;
    put_str(w, m, "chain", 2)?;
    put_be64(w, m, "handle", 3)?;
    if let Some(exprs) = m.get_some("exprs") {
        put_expr_list(w, 4, exprs).map_err(|e| e.at_key("exprs"))?;
    }
    put_be64(w, m, "position", 6)?;
    put_userdata(w, 7, m, UDATA_COMMENT, true)?;
    put_be32(w, m, "id", 9)?;
    put_be32(w, m, "position_id", 10)?;
    put_be32(w, m, "chain_id", 11)
}

fn set_attrs(w: &mut Writer, m: &Value) -> R<()> {
    check_keys(m, SET_KEYS)?;
    put_str(w, m, "table", 1)?;
    put_str(w, m, "name", 2)?;
    put_flags(w, m, "flags", 3, SET_FLAGS)?;
    put_be32(w, m, "key_type", 4)?;
    put_be32(w, m, "key_len", 5)?;
    if let Some(dt) = m.get_some("data_type") {
        // NFT_DATA_VERDICT for verdict maps
        let v = match dt {
            Value::Atom(a) if a == "verdict" => 0xffff_ff00,
            other => u32_of(other).map_err(|e| e.at_key("data_type"))?,
        };
        w.be32(6, v)?;
    }
    put_be32(w, m, "data_len", 7)?;
    if let Some(p) = m.get_some("policy") {
        w.be32(
            8,
            enum_of(p, SET_POLICIES, u32::MAX).map_err(|e| e.at_key("policy"))?,
        )?;
    }
    let size = m.get_some("size");
    let concat = m.get_some("concat");
    if size.is_some() || concat.is_some() {
        let desc = w.begin_nest(9);
        if let Some(s) = size {
            w.be32(1, u32_of(s).map_err(|e| e.at_key("size"))?)?;
        }
        if let Some(c) = concat {
            let lens = c.as_list().ok_or_else(|| {
                EncodeError::new("expected a list of field lengths").at_key("concat")
            })?;
            let cn = w.begin_nest(2);
            for (i, l) in lens.iter().enumerate() {
                let elem = w.begin_nest(1);
                w.be32(1, u32_of(l).map_err(|e| e.at_index(i).at_key("concat"))?)?;
                w.end_nest(elem)?;
            }
            w.end_nest(cn)?;
        }
        w.end_nest(desc)?;
    }
    put_be32(w, m, "id", 10)?;
    put_be64(w, m, "timeout", 11)?;
    put_be32(w, m, "gc_interval", 12)?;
    if let Some(raw) = m.get_some("userdata") {
        w.attr(13, bytes_of(raw).map_err(|e| e.at_key("userdata"))?)?;
    } else {
        let mut entries: Vec<(u8, Vec<u8>)> = Vec::new();
        for (key, ty) in [
            ("key_byteorder", UDATA_SET_KEYBYTEORDER),
            ("data_byteorder", UDATA_SET_DATABYTEORDER),
        ] {
            if let Some(v) = m.get_some(key) {
                // 1 = host order, 2 = big endian (nft's enum byteorder); a u32 in host order.
                let n = u32_of(v).map_err(|e| e.at_key(key))?;
                entries.push((ty, n.to_ne_bytes().to_vec()));
            }
        }
        if let Some(c) = m.get_some("comment") {
            let c = name_of_value(c).map_err(|e| e.at_key("comment"))?;
            entries.push((UDATA_SET_COMMENT, strz(c)));
        }
        if !entries.is_empty() {
            let refs: Vec<(u8, &[u8])> = entries.iter().map(|(t, v)| (*t, v.as_slice())).collect();
            w.attr(13, &udata(&refs).map_err(|e| e.at_key("comment"))?)?;
        }
    }
    if let Some(t) = m.get_some("obj_type") {
        w.be32(
            15,
            enum_of(t, OBJECT_TYPES, u32::MAX).map_err(|e| e.at_key("obj_type"))?,
        )?;
    }
    put_be64(w, m, "handle", 16)?;
    if let Some(exprs) = m.get_some("exprs") {
        put_expr_list(w, 18, exprs).map_err(|e| e.at_key("exprs"))?;
    }
    Ok(())
}

fn elem_attrs(w: &mut Writer, e: &Value) -> R<()> {
    check_keys(e, ELEM_KEYS)?;
    if let Some(k) = e.get_some("key") {
        put_data(w, 1, k).map_err(|x| x.at_key("key"))?;
    }
    if let Some(d) = e.get_some("data") {
        put_data(w, 2, d).map_err(|x| x.at_key("data"))?;
    }
    put_flags(w, e, "flags", 3, SET_ELEM_FLAGS)?;
    put_be64(w, e, "timeout", 4)?;
    put_be64(w, e, "expiration", 5)?;
    put_userdata(w, 6, e, UDATA_SET_ELEM_COMMENT, false)?;
    put_str(w, e, "objref", 9)?;
    if let Some(k) = e.get_some("key_end") {
        put_data(w, 10, k).map_err(|x| x.at_key("key_end"))?;
    }
    if let Some(exprs) = e.get_some("exprs") {
        put_expr_list(w, 11, exprs).map_err(|x| x.at_key("exprs"))?;
    }
    Ok(())
}

/// Element lists are split over several messages so that no NFTA_SET_ELEM_LIST_ELEMENTS
/// nest overflows its 16-bit length (libnftnl does the same).
const ELEMS_BUDGET: usize = 60_000;

fn setelem_messages(m: &Value, msg: u16, flags: u16, family: u8) -> R<Vec<Out>> {
    check_keys(m, SETELEM_KEYS)?;
    let mut head = Writer::new();
    put_str(&mut head, m, "table", 1)?;
    put_str(&mut head, m, "set", 2)?;
    put_be32(&mut head, m, "set_id", 4)?;
    let elems: &[Value] = match m.get_some("elements") {
        None => &[],
        Some(v) => v
            .as_list()
            .ok_or_else(|| EncodeError::new("expected a list of elements").at_key("elements"))?,
    };
    let mut encoded = Vec::with_capacity(elems.len());
    for (i, e) in elems.iter().enumerate() {
        let mut w = Writer::new();
        let at = w.begin_nest(1); // NFTA_LIST_ELEM
        elem_attrs(&mut w, e).map_err(|x| x.at_index(i).at_key("elements"))?;
        w.end_nest(at)
            .map_err(|x| EncodeError::from(x).at_index(i).at_key("elements"))?;
        encoded.push(w.buf);
    }
    let mut out = Vec::new();
    let mut chunk: Vec<u8> = Vec::new();
    let flush = |chunk: &mut Vec<u8>, out: &mut Vec<Out>| -> R<()> {
        let mut w = Writer {
            buf: head.buf.clone(),
        };
        let at = w.begin_nest(3);
        w.buf.extend_from_slice(chunk);
        w.end_nest(at)?;
        out.push(Out {
            msg,
            flags,
            family,
            attrs: w.buf,
        });
        chunk.clear();
        Ok(())
    };
    for e in encoded {
        if !chunk.is_empty() && chunk.len() + e.len() > ELEMS_BUDGET {
            flush(&mut chunk, &mut out)?;
        }
        chunk.extend_from_slice(&e);
    }
    if !chunk.is_empty() || out.is_empty() {
        if chunk.is_empty() && elems.is_empty() {
            // No element list at all: a request for the whole set (GETSETELEM, a flush).
            out.push(Out {
                msg,
                flags,
                family,
                attrs: head.buf.clone(),
            });
        } else {
            flush(&mut chunk, &mut out)?;
        }
    }
    Ok(out)
}

fn obj_attrs(w: &mut Writer, m: &Value) -> R<()> {
    check_keys(m, OBJ_KEYS)?;
    put_str(w, m, "table", 1)?;
    put_str(w, m, "name", 2)?;
    if let Some(t) = m.get_some("type") {
        let n = enum_of(t, OBJECT_TYPES, u32::MAX).map_err(|e| e.at_key("type"))?;
        w.be32(3, n)?;
        if let Some(data) = m.get_some("data") {
            let name = name_of(OBJECT_TYPES, n).unwrap_or("");
            let (_, fields) = schema::object_schema(name).ok_or_else(|| {
                EncodeError::new(format!("objects of type {name:?} cannot be encoded"))
                    .at_key("type")
            })?;
            let nest = w.begin_nest(4);
            put_fields(w, fields, data).map_err(|e| e.at_key("data"))?;
            w.end_nest(nest)?;
        }
    }
    put_be64(w, m, "handle", 6)?;
    put_userdata(w, 8, m, UDATA_COMMENT, false)
}

fn flowtable_attrs(w: &mut Writer, m: &Value) -> R<()> {
    check_keys(m, FLOWTABLE_KEYS)?;
    put_str(w, m, "table", 1)?;
    put_str(w, m, "name", 2)?;
    if let Some(hook) = m.get_some("hook") {
        let nest = w.begin_nest(3);
        w.be32(
            1,
            enum_of(hook, NETDEV_HOOKS, u32::MAX).map_err(|e| e.at_key("hook"))?,
        )?;
        let prio = m.get_some("priority").unwrap_or(&Value::Int(0));
        let prio = int_in(
            prio,
            i32::MIN as i128,
            i32::MAX as i128,
            "a 32-bit priority",
        )
        .map_err(|e| e.at_key("priority"))?;
        w.be32(2, prio as i32 as u32)?;
        if let Some(devs) = m.get_some("devices") {
            put_devices(w, 3, devs).map_err(|e| e.at_key("devices"))?;
        }
        w.end_nest(nest)?;
    }
    put_be64(w, m, "handle", 5)?;
    put_flags(w, m, "flags", 7, FLOWTABLE_FLAGS)
}

/// Encodes one mutation `{op, family, map}` into its message(s).
pub fn encode_mutation(mutation: &Value) -> R<Vec<Out>> {
    let (op, fam, map) = match mutation {
        Value::Tuple(t) if t.len() == 3 => (&t[0], &t[1], &t[2]),
        other => {
            return Err(EncodeError::new(format!(
                "a mutation is {{op, family, map}}, got {}",
                describe(other)
            )))
        }
    };
    let op = op
        .as_atom()
        .ok_or_else(|| EncodeError::new("the operation is an atom"))?;
    let msg = value_of(MSG_TYPES, op)
        .ok_or_else(|| EncodeError::new(format!("unknown operation :{op}")))? as u16;
    let family = family_of(fam).map_err(|e| e.at_key("family"))?;
    if !matches!(map, Value::Map(_)) {
        return Err(EncodeError::new(format!(
            "the object of a mutation is a map, got {}",
            describe(map)
        )));
    }
    let default_flags = match op {
        "new_rule" => NLM_F_CREATE | NLM_F_APPEND,
        o if o.starts_with("new_") && o != "new_gen" => NLM_F_CREATE,
        _ => 0,
    };
    let flags = nlm_flags(map, default_flags)?;
    let kind = op.split_once('_').map(|(_, k)| k).unwrap_or("");
    let kind = kind.trim_end_matches("_reset");
    let mut w = Writer::new();
    match kind {
        "table" => table_attrs(&mut w, map)?,
        "chain" => chain_attrs(&mut w, map, family)?,
        "rule" => rule_attrs(&mut w, map)?,
        "set" => set_attrs(&mut w, map)?,
        "setelem" => return setelem_messages(map, msg, flags, family),
        "obj" => obj_attrs(&mut w, map)?,
        "flowtable" => flowtable_attrs(&mut w, map)?,
        "gen" => check_keys(map, &["nlm_flags"])?,
        _ => return Err(EncodeError::new(format!("operation :{op} cannot be sent"))),
    }
    Ok(vec![Out {
        msg,
        flags,
        family,
        attrs: w.buf,
    }])
}

/// The sequence number of message `k` of a batch starting at `base`: 1..0xFFFFFFFF,
/// wrapping without ever producing 0 (what `Linx.Netlink.Socket.next_seq/1` does).
pub fn seq_at(base: u32, k: usize) -> u32 {
    let b = (base.max(1) as u64) - 1;
    (((b + k as u64) % 0xffff_ffff) + 1) as u32
}

/// A whole batch: BATCH_BEGIN (res_id = NFNL_SUBSYS_NFTABLES, NFNL_BATCH_GENID when
/// `genid` is given), the messages, BATCH_END flagged NLM_F_ACK (acked only when the
/// transaction commits). Inner messages carry no NLM_F_ACK: the kernel reports every
/// failing message anyway, so a large batch does not flood the socket with acks.
/// Returns the bytes and, for each inner message, the index of its mutation.
pub fn encode_batch(
    mutations: &[Value],
    base_seq: u32,
    genid: Option<u32>,
) -> Result<(Vec<u8>, Vec<usize>), (usize, EncodeError)> {
    let mut batch = Batch::default();
    for (i, m) in mutations.iter().enumerate() {
        batch.push(i, m).map_err(|e| (i, e))?;
    }
    batch.finish(base_seq, genid).map_err(|e| (0, e))
}

/// [`encode_batch`], fed one mutation at a time: the NIF converts each term, encodes it
/// and drops it before the next, so a large batch never holds a whole tree of values
/// (building and freeing one for 10,000 rules cost more than encoding them).
#[derive(Default)]
pub struct Batch {
    /// Inner messages and the index of the mutation each came from.
    owners: Vec<(usize, Out)>,
}

impl Batch {
    pub fn push(&mut self, index: usize, mutation: &Value) -> R<()> {
        let outs = encode_mutation(mutation)?;
        if outs.iter().any(|o| !o.msg_is_batchable()) {
            return Err(EncodeError::new("GET requests cannot be part of a batch"));
        }
        self.owners.extend(outs.into_iter().map(|o| (index, o)));
        Ok(())
    }

    pub fn finish(self, base_seq: u32, genid: Option<u32>) -> R<(Vec<u8>, Vec<usize>)> {
        let mut begin_attrs = Writer::new();
        if let Some(g) = genid {
            begin_attrs.be32(NFNL_BATCH_GENID, g)?;
        }
        // One buffer of the exact size: a 10,000-rule batch is ~3.5 MiB, and growing it
        // by doubling costs copies and fresh pages.
        let total = nl::message_len(begin_attrs.buf.len())
            + self
                .owners
                .iter()
                .map(|(_, o)| nl::message_len(o.attrs.len()))
                .sum::<usize>()
            + nl::message_len(0);
        let mut body = Vec::with_capacity(total);
        let mut k = 0usize;
        nl::append_message(
            &mut body,
            NFNL_MSG_BATCH_BEGIN,
            NLM_F_REQUEST,
            seq_at(base_seq, k),
            0,
            NFNL_SUBSYS_NFTABLES,
            &begin_attrs.buf,
        );
        let mut index = Vec::with_capacity(self.owners.len());
        for (i, o) in &self.owners {
            k += 1;
            nl::append_message(
                &mut body,
                o.nlmsg_type(),
                NLM_F_REQUEST | o.flags,
                seq_at(base_seq, k),
                o.family,
                0,
                &o.attrs,
            );
            index.push(*i);
        }
        k += 1;
        nl::append_message(
            &mut body,
            NFNL_MSG_BATCH_END,
            NLM_F_REQUEST | NLM_F_ACK,
            seq_at(base_seq, k),
            0,
            NFNL_SUBSYS_NFTABLES,
            &[],
        );
        debug_assert_eq!(body.len(), total);
        Ok((body, index))
    }
}

impl Out {
    fn msg_is_batchable(&self) -> bool {
        let name = name_of(MSG_TYPES, self.msg as u32).unwrap_or("");
        !name.starts_with("get_")
    }

    /// nfgenmsg + attributes: the payload of a single (non-batch) request.
    pub fn payload(&self) -> Vec<u8> {
        let mut p = vec![self.family, 0, 0, 0];
        p.extend_from_slice(&self.attrs);
        p
    }
}

#[cfg(test)]
mod tests {
    //! Encodings compared with the layouts of nf_tables.h / nfnetlink.h / netlink.h:
    //! `struct nlattr { __u16 nla_len; __u16 nla_type; }` (native-endian) followed by
    //! the value padded to 4 bytes, nested attributes flagged NLA_F_NESTED (0x8000),
    //! nf_tables integers big-endian.
    use super::*;
    use crate::decode;
    use crate::value::MapBuilder;

    fn a(name: &'static str) -> Value {
        Value::atom(name)
    }

    fn map(pairs: Vec<(&'static str, Value)>) -> Value {
        let mut m = MapBuilder::new();
        for (k, v) in pairs {
            m.put(k, v);
        }
        m.build()
    }

    fn attr(ty: u16, value: &[u8]) -> Vec<u8> {
        let mut v = ((4 + value.len()) as u16).to_ne_bytes().to_vec();
        v.extend_from_slice(&ty.to_ne_bytes());
        v.extend_from_slice(value);
        while v.len() % 4 != 0 {
            v.push(0);
        }
        v
    }

    fn nest(ty: u16, children: &[Vec<u8>]) -> Vec<u8> {
        attr(ty | 0x8000, &children.concat())
    }

    fn one(m: Value) -> Out {
        let mut outs = encode_mutation(&m).expect("encodes");
        assert_eq!(outs.len(), 1);
        outs.remove(0)
    }

    #[test]
    fn newtable_layout() {
        // NFT_MSG_NEWTABLE = 0; NFTA_TABLE_NAME = 1 (string), NFTA_TABLE_FLAGS = 2 (be32),
        // NFT_TABLE_F_OWNER = 0x2
        let o = one(Value::Tuple(vec![
            a("new_table"),
            a("inet"),
            map(vec![
                ("name", Value::str("t")),
                ("flags", Value::List(vec![a("owner")])),
            ]),
        ]));
        assert_eq!(o.nlmsg_type(), 0x0a00);
        assert_eq!(o.flags, NLM_F_CREATE);
        assert_eq!(o.family, 1);
        let expected = [attr(1, b"t\0"), attr(2, &2u32.to_be_bytes())].concat();
        assert_eq!(o.attrs, expected);
        assert_eq!(
            &o.payload()[..4],
            &[1, 0, 0, 0],
            "nfgenmsg: family, version 0, res_id 0"
        );
    }

    #[test]
    fn base_chain_layout() {
        // NFTA_CHAIN_TABLE 1, NAME 3, HOOK 4 {HOOKNUM 1, PRIORITY 2}, POLICY 5, TYPE 7
        let o = one(Value::Tuple(vec![
            a("new_chain"),
            a("ip"),
            map(vec![
                ("table", Value::str("t")),
                ("name", Value::str("c")),
                ("hook", a("prerouting")),
                ("priority", Value::Int(-100)),
                ("policy", a("drop")),
                ("type", a("nat")),
            ]),
        ]));
        let expected = [
            attr(1, b"t\0"),
            attr(3, b"c\0"),
            nest(
                4,
                &[
                    attr(1, &0u32.to_be_bytes()),
                    attr(2, &(-100i32).to_be_bytes()),
                ],
            ),
            attr(5, &0u32.to_be_bytes()),
            attr(7, b"nat\0"),
        ]
        .concat();
        assert_eq!(o.attrs, expected);
    }

    #[test]
    fn netdev_hook_numbers_follow_the_family() {
        let o = one(Value::Tuple(vec![
            a("new_chain"),
            a("netdev"),
            map(vec![
                ("table", Value::str("t")),
                ("name", Value::str("c")),
                ("hook", a("egress")),
                ("priority", Value::Int(0)),
                ("device", Value::str("lo")),
            ]),
        ]));
        // NF_NETDEV_EGRESS = 1; NFTA_HOOK_DEV = 3
        let hook = nest(
            4,
            &[
                attr(1, &1u32.to_be_bytes()),
                attr(2, &0u32.to_be_bytes()),
                attr(3, b"lo\0"),
            ],
        );
        assert!(o.attrs.windows(hook.len()).any(|w| w == hook.as_slice()));
    }

    fn rule_with(exprs: Vec<Value>) -> Out {
        one(Value::Tuple(vec![
            a("new_rule"),
            a("inet"),
            map(vec![
                ("table", Value::str("t")),
                ("chain", Value::str("c")),
                ("exprs", Value::List(exprs)),
            ]),
        ]))
    }

    #[test]
    fn rule_expressions_layout() {
        // NFTA_RULE_EXPRESSIONS 4 { NFTA_LIST_ELEM 1 { NFTA_EXPR_NAME 1, NFTA_EXPR_DATA 2 {..} } }
        let payload = Value::Tuple(vec![
            a("payload"),
            map(vec![
                ("dreg", Value::Int(1)),
                ("base", a("transport")),
                ("offset", Value::Int(2)),
                ("len", Value::Int(2)),
            ]),
        ]);
        let cmp = Value::Tuple(vec![
            a("cmp"),
            map(vec![
                ("sreg", Value::Int(1)),
                ("op", a("eq")),
                ("data", Value::bin(&[0, 22])),
            ]),
        ]);
        let o = rule_with(vec![payload, cmp]);
        assert_eq!(o.flags, NLM_F_CREATE | NLM_F_APPEND);
        let be = |n: u32| n.to_be_bytes();
        let payload_attrs = nest(
            1,
            &[
                attr(1, b"payload\0"),
                nest(
                    2,
                    &[
                        attr(1, &be(1)),
                        attr(2, &be(2)),
                        attr(3, &be(2)),
                        attr(4, &be(2)),
                    ],
                ),
            ],
        );
        // NFTA_CMP_DATA is an NFTA_DATA nest holding NFTA_DATA_VALUE (1)
        let cmp_attrs = nest(
            1,
            &[
                attr(1, b"cmp\0"),
                nest(
                    2,
                    &[
                        attr(1, &be(1)),
                        attr(2, &be(0)),
                        nest(3, &[attr(1, &[0, 22])]),
                    ],
                ),
            ],
        );
        let expected = [
            attr(1, b"t\0"),
            attr(2, b"c\0"),
            nest(4, &[payload_attrs, cmp_attrs]),
        ]
        .concat();
        assert_eq!(o.attrs, expected);
    }

    #[test]
    fn verdict_layout() {
        // NFTA_IMMEDIATE_DATA { NFTA_DATA_VERDICT 2 { NFTA_VERDICT_CODE 1 (NFT_JUMP = -3), NFTA_VERDICT_CHAIN 2 } }
        let imm = Value::Tuple(vec![
            a("immediate"),
            map(vec![
                ("dreg", Value::Int(0)),
                (
                    "data",
                    map(vec![("verdict", a("jump")), ("chain", Value::str("x"))]),
                ),
            ]),
        ]);
        let o = rule_with(vec![imm]);
        let verdict = nest(
            2,
            &[nest(2, &[attr(1, &(-3i32).to_be_bytes()), attr(2, b"x\0")])],
        );
        assert!(o
            .attrs
            .windows(verdict.len())
            .any(|w| w == verdict.as_slice()));
    }

    #[test]
    fn rule_userdata_tlvs() {
        // libnftnl udata: type u8, len u8, value; comment (type 0) NUL-terminated
        let o = one(Value::Tuple(vec![
            a("new_rule"),
            a("ip"),
            map(vec![
                ("table", Value::str("t")),
                ("chain", Value::str("c")),
                ("comment", Value::str("hi")),
                ("tag", Value::str("ssh")),
            ]),
        ]));
        let udata = attr(7, &[0, 3, b'h', b'i', 0, 16, 4, b's', b's', b'h', 0]);
        assert!(o.attrs.ends_with(&udata));
    }

    #[test]
    fn concat_interval_set_desc() {
        // NFTA_SET_DESC 9 { NFTA_SET_DESC_CONCAT 2 { LIST_ELEM { NFTA_SET_FIELD_LEN 1 } x2 } }
        let o = one(Value::Tuple(vec![
            a("new_set"),
            a("ip"),
            map(vec![
                ("table", Value::str("t")),
                ("name", Value::str("s")),
                ("flags", Value::List(vec![a("interval"), a("concat")])),
                ("key_type", Value::Int((7 << 6) | 13)),
                ("key_len", Value::Int(8)),
                ("concat", Value::List(vec![Value::Int(4), Value::Int(4)])),
                ("id", Value::Int(1)),
            ]),
        ]));
        let field = |n: u32| nest(1, &[attr(1, &n.to_be_bytes())]);
        let desc = nest(9, &[nest(2, &[field(4), field(4)])]);
        assert!(o.attrs.windows(desc.len()).any(|w| w == desc.as_slice()));
        let flags = attr(3, &(0x4u32 | 0x80).to_be_bytes());
        assert!(o.attrs.windows(flags.len()).any(|w| w == flags.as_slice()));
    }

    #[test]
    fn ct_expect_timeout_is_host_order() {
        let o = one(Value::Tuple(vec![
            a("new_obj"),
            a("ip"),
            map(vec![
                ("table", Value::str("t")),
                ("name", Value::str("e")),
                ("type", a("ct_expect")),
                (
                    "data",
                    map(vec![
                        ("l3proto", Value::Int(2)),
                        ("timeout", Value::Int(30_000)),
                    ]),
                ),
            ]),
        ]));
        // NFTA_OBJ_DATA 4 { NFTA_CT_EXPECT_L3PROTO 1 be16, NFTA_CT_EXPECT_TIMEOUT 4 host u32 }
        let data = nest(
            4,
            &[
                attr(1, &2u16.to_be_bytes()),
                attr(4, &30_000u32.to_ne_bytes()),
            ],
        );
        assert!(o.attrs.windows(data.len()).any(|w| w == data.as_slice()));
    }

    #[test]
    fn batch_envelope() {
        let m = Value::Tuple(vec![
            a("new_table"),
            a("ip"),
            map(vec![("name", Value::str("t"))]),
        ]);
        let (bytes, index) = encode_batch(&[m], 0xffff_ffff, Some(7)).unwrap();
        assert_eq!(index, vec![0]);
        let msgs = nl::split_messages(&bytes).unwrap();
        assert_eq!(msgs.len(), 3);
        // BATCH_BEGIN: NLMSG_MIN_TYPE, res_id = NFNL_SUBSYS_NFTABLES (be16), NFNL_BATCH_GENID be32
        assert_eq!(msgs[0].ty, 0x10);
        assert_eq!(msgs[0].flags, NLM_F_REQUEST);
        assert_eq!(
            msgs[0].payload,
            [&[0, 0, 0, 10][..], &attr(1, &7u32.to_be_bytes())].concat()
        );
        assert_eq!(msgs[1].ty, 0x0a00);
        assert_eq!(msgs[1].flags, NLM_F_REQUEST | NLM_F_CREATE);
        assert_eq!(msgs[2].ty, 0x11);
        assert_eq!(msgs[2].flags, NLM_F_REQUEST | NLM_F_ACK);
        // sequence numbers wrap past 0xffffffff to 1, never 0
        assert_eq!(
            msgs.iter().map(|m| m.seq).collect::<Vec<_>>(),
            vec![0xffff_ffff, 1, 2]
        );
    }

    #[test]
    fn get_requests_are_not_batchable() {
        let m = Value::Tuple(vec![a("get_table"), a("ip"), map(vec![])]);
        assert!(encode_batch(&[m], 1, None).is_err());
    }

    #[test]
    fn long_element_lists_are_split() {
        let elems: Vec<Value> = (0..20_000u32)
            .map(|i| map(vec![("key", Value::bin(&i.to_be_bytes()))]))
            .collect();
        let m = Value::Tuple(vec![
            a("new_setelem"),
            a("ip"),
            map(vec![
                ("table", Value::str("t")),
                ("set", Value::str("s")),
                ("elements", Value::List(elems)),
            ]),
        ]);
        let outs = encode_mutation(&m).unwrap();
        assert!(outs.len() > 1);
        let mut total = 0;
        for o in &outs {
            assert!(o.attrs.len() < 65_535);
            match decode::decode_message(o.nlmsg_type(), &o.payload()).unwrap() {
                Value::Tuple(t) => total += t[2].get("elements").unwrap().as_list().unwrap().len(),
                _ => panic!("not a tuple"),
            }
        }
        assert_eq!(total, 20_000);
    }

    #[test]
    fn errors_name_the_path() {
        let bad = Value::Tuple(vec![
            a("payload"),
            map(vec![("dreg", Value::Int(1)), ("base", a("bogus"))]),
        ]);
        let m = Value::Tuple(vec![
            a("new_rule"),
            a("ip"),
            map(vec![
                ("table", Value::str("t")),
                ("chain", Value::str("c")),
                ("exprs", Value::List(vec![bad])),
            ]),
        ]);
        let e = encode_mutation(&m).unwrap_err();
        assert_eq!(
            e.path,
            vec![
                Seg::Key("exprs".into()),
                Seg::Index(0),
                Seg::Key("payload".into()),
                Seg::Key("base".into())
            ]
        );
        assert!(e.reason.contains("bogus"));

        let typo = Value::Tuple(vec![
            a("new_table"),
            a("ip"),
            map(vec![("nmae", Value::str("t"))]),
        ]);
        assert!(encode_mutation(&typo).unwrap_err().reason.contains("nmae"));

        let unknown = Value::Tuple(vec![a("frobnicate"), map(vec![])]);
        let m = Value::Tuple(vec![
            a("new_rule"),
            a("ip"),
            map(vec![("exprs", Value::List(vec![unknown]))]),
        ]);
        assert!(encode_mutation(&m)
            .unwrap_err()
            .reason
            .contains("unknown expression"));

        let long = Value::Tuple(vec![
            a("new_rule"),
            a("ip"),
            map(vec![("comment", Value::str(&"x".repeat(300)))]),
        ]);
        assert_eq!(
            encode_mutation(&long).unwrap_err().path,
            vec![Seg::Key("comment".into())]
        );

        let nul = Value::Tuple(vec![
            a("new_table"),
            a("ip"),
            map(vec![("name", Value::bin(b"a\0b"))]),
        ]);
        assert!(encode_mutation(&nul).is_err());
    }

    /// Every schema field survives encode -> decode with a sample value.
    #[test]
    fn every_expression_round_trips() {
        for (name, fields) in schema::EXPRS {
            let mut m = MapBuilder::new();
            for f in fields.iter() {
                let v = match f.kind {
                    Kind::Reg => Value::Int(1),
                    Kind::U8 | Kind::U16 | Kind::U32 | Kind::U64 | Kind::U32Host => Value::Int(3),
                    Kind::Str => Value::str("x"),
                    Kind::Bin => Value::bin(&[1, 2]),
                    Kind::Data => Value::bin(&[9, 9, 9, 9]),
                    Kind::Enum8(t) | Kind::Enum32(t) => a(t[0].1),
                    Kind::Flags16(t) | Kind::Flags32(t) => Value::List(vec![a(t[0].1)]),
                    Kind::Expr => Value::Tuple(vec![
                        a("counter"),
                        map(vec![("bytes", Value::Int(1)), ("packets", Value::Int(2))]),
                    ]),
                    Kind::Exprs => Value::List(vec![Value::Tuple(vec![a("notrack"), map(vec![])])]),
                    Kind::U32Array => {
                        Value::List(vec![Value::Tuple(vec![Value::Int(3), Value::Int(100)])])
                    }
                };
                m.put(f.key, v);
            }
            let expr = Value::Tuple(vec![a(name), m.build()]);
            let o = rule_with(vec![expr.clone()]);
            let decoded = decode::decode_message(o.nlmsg_type(), &o.payload()).unwrap();
            let exprs = match &decoded {
                Value::Tuple(t) => t[2].get("exprs").unwrap().clone(),
                _ => unreachable!(),
            };
            assert_eq!(exprs, Value::List(vec![expr]), "expression {name}");
        }
    }

    #[test]
    fn raw_expressions_pass_through() {
        let raw = Value::Tuple(vec![
            Value::str("futurexpr"),
            map(vec![("raw", Value::bin(&[8, 0, 1, 0, 0, 0, 0, 1]))]),
        ]);
        let o = rule_with(vec![raw.clone()]);
        let decoded = decode::decode_message(o.nlmsg_type(), &o.payload()).unwrap();
        match decoded {
            Value::Tuple(t) => assert_eq!(t[2].get("exprs"), Some(&Value::List(vec![raw]))),
            _ => unreachable!(),
        }
    }
}
