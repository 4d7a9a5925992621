//! Attribute schemas of the nf_tables expressions and stateful objects
//! (nf_tables.h `enum nft_<expr>_attributes`). One table drives both directions, so an
//! attribute the encoder can send is one the decoder can read back, under the same key.

use crate::consts::*;

#[derive(Clone, Copy, Debug)]
pub enum Kind {
    /// A register number (u32 be): NFT_REG_VERDICT 0, NFT_REG_1..4, NFT_REG32_00..15 (8..23).
    Reg,
    U8,
    U16,
    U32,
    U64,
    /// A u32 in host byte order (NFTA_CT_EXPECT_TIMEOUT: the kernel reads it with
    /// nla_get_u32, unlike every other nf_tables integer).
    U32Host,
    /// NUL-terminated string.
    Str,
    /// Opaque bytes.
    Bin,
    /// `NFTA_DATA_*` nest: a value (binary) or a verdict.
    Data,
    Enum8(Table),
    Enum32(Table),
    Flags16(Table),
    Flags32(Table),
    /// One nested expression (`NFTA_*_EXPR`).
    Expr,
    /// A list of nested expressions (`NFTA_*_EXPRESSIONS`).
    Exprs,
    /// A nest of be32 attributes keyed by number (the ct timeout policy array).
    U32Array,
}

#[derive(Clone, Copy, Debug)]
pub struct Field {
    pub id: u16,
    pub key: &'static str,
    pub kind: Kind,
}

const fn f(id: u16, key: &'static str, kind: Kind) -> Field {
    Field { id, key, kind }
}

use Kind::*;

pub const IMMEDIATE: &[Field] = &[f(1, "dreg", Reg), f(2, "data", Data)];
pub const CMP: &[Field] = &[
    f(1, "sreg", Reg),
    f(2, "op", Enum32(CMP_OPS)),
    f(3, "data", Data),
];
pub const RANGE: &[Field] = &[
    f(1, "sreg", Reg),
    f(2, "op", Enum32(RANGE_OPS)),
    f(3, "from", Data),
    f(4, "to", Data),
];
pub const PAYLOAD: &[Field] = &[
    f(1, "dreg", Reg),
    f(2, "base", Enum32(PAYLOAD_BASES)),
    f(3, "offset", U32),
    f(4, "len", U32),
    f(5, "sreg", Reg),
    f(6, "csum_type", Enum32(CSUM_TYPES)),
    f(7, "csum_offset", U32),
    f(8, "csum_flags", Flags32(CSUM_FLAGS)),
];
pub const META: &[Field] = &[
    f(1, "dreg", Reg),
    f(2, "key", Enum32(META_KEYS)),
    f(3, "sreg", Reg),
];
pub const BITWISE: &[Field] = &[
    f(1, "sreg", Reg),
    f(2, "dreg", Reg),
    f(3, "len", U32),
    f(4, "mask", Data),
    f(5, "xor", Data),
    f(6, "op", Enum32(BITWISE_OPS)),
    f(7, "data", Data),
];
pub const BYTEORDER: &[Field] = &[
    f(1, "sreg", Reg),
    f(2, "dreg", Reg),
    f(3, "op", Enum32(BYTEORDER_OPS)),
    f(4, "len", U32),
    f(5, "size", U32),
];
pub const CT: &[Field] = &[
    f(1, "dreg", Reg),
    f(2, "key", Enum32(CT_KEYS)),
    f(3, "direction", Enum8(CT_DIRECTIONS)),
    f(4, "sreg", Reg),
];
pub const LOOKUP: &[Field] = &[
    f(1, "set", Str),
    f(2, "sreg", Reg),
    f(3, "dreg", Reg),
    f(4, "set_id", U32),
    f(5, "flags", Flags32(LOOKUP_FLAGS)),
];
pub const DYNSET: &[Field] = &[
    f(1, "set", Str),
    f(2, "set_id", U32),
    f(3, "op", Enum32(DYNSET_OPS)),
    f(4, "sreg_key", Reg),
    f(5, "sreg_data", Reg),
    f(6, "timeout", U64),
    f(7, "expr", Expr),
    f(9, "flags", Flags32(DYNSET_FLAGS)),
    f(10, "exprs", Exprs),
];
pub const COUNTER: &[Field] = &[f(1, "bytes", U64), f(2, "packets", U64)];
pub const LIMIT: &[Field] = &[
    f(1, "rate", U64),
    f(2, "unit", U64),
    f(3, "burst", U32),
    f(4, "type", Enum32(LIMIT_TYPES)),
    f(5, "flags", Flags32(LIMIT_FLAGS)),
];
pub const QUOTA: &[Field] = &[
    f(1, "bytes", U64),
    f(2, "flags", Flags32(QUOTA_FLAGS)),
    f(4, "consumed", U64),
];
pub const CONNLIMIT: &[Field] = &[f(1, "count", U32), f(2, "flags", Flags32(CONNLIMIT_FLAGS))];
pub const LOG: &[Field] = &[
    f(1, "group", U16),
    f(2, "prefix", Str),
    f(3, "snaplen", U32),
    f(4, "qthreshold", U16),
    f(5, "level", Enum32(LOG_LEVELS)),
    f(6, "flags", Flags32(LOG_FLAGS)),
];
pub const QUEUE: &[Field] = &[
    f(1, "num", U16),
    f(2, "total", U16),
    f(3, "flags", Flags16(QUEUE_FLAGS)),
    f(4, "sreg_qnum", Reg),
];
pub const REJECT: &[Field] = &[f(1, "type", Enum32(REJECT_TYPES)), f(2, "icmp_code", U8)];
pub const NAT: &[Field] = &[
    f(1, "type", Enum32(NAT_TYPES)),
    f(2, "family", Enum32(FAMILIES)),
    f(3, "reg_addr_min", Reg),
    f(4, "reg_addr_max", Reg),
    f(5, "reg_proto_min", Reg),
    f(6, "reg_proto_max", Reg),
    f(7, "flags", Flags32(NAT_FLAGS)),
];
pub const MASQ: &[Field] = &[
    f(1, "flags", Flags32(NAT_FLAGS)),
    f(2, "reg_proto_min", Reg),
    f(3, "reg_proto_max", Reg),
];
pub const REDIR: &[Field] = &[
    f(1, "reg_proto_min", Reg),
    f(2, "reg_proto_max", Reg),
    f(3, "flags", Flags32(NAT_FLAGS)),
];
pub const TPROXY: &[Field] = &[
    f(1, "family", Enum32(FAMILIES)),
    f(2, "reg_addr", Reg),
    f(3, "reg_port", Reg),
];
pub const DUP: &[Field] = &[f(1, "sreg_addr", Reg), f(2, "sreg_dev", Reg)];
pub const FWD: &[Field] = &[
    f(1, "sreg_dev", Reg),
    f(2, "sreg_addr", Reg),
    f(3, "nfproto", Enum32(FAMILIES)),
];
pub const OBJREF: &[Field] = &[
    f(1, "type", Enum32(OBJECT_TYPES)),
    f(2, "name", Str),
    f(3, "set_sreg", Reg),
    f(4, "set", Str),
    f(5, "set_id", U32),
];
pub const FIB: &[Field] = &[
    f(1, "dreg", Reg),
    f(2, "result", Enum32(FIB_RESULTS)),
    f(3, "flags", Flags32(FIB_FLAGS)),
];
pub const RT: &[Field] = &[f(1, "dreg", Reg), f(2, "key", Enum32(RT_KEYS))];
pub const SOCKET: &[Field] = &[
    f(1, "key", Enum32(SOCKET_KEYS)),
    f(2, "dreg", Reg),
    f(3, "level", U32),
];
pub const HASH: &[Field] = &[
    f(1, "sreg", Reg),
    f(2, "dreg", Reg),
    f(3, "len", U32),
    f(4, "modulus", U32),
    f(5, "seed", U32),
    f(6, "offset", U32),
    f(7, "type", Enum32(HASH_TYPES)),
];
pub const NUMGEN: &[Field] = &[
    f(1, "dreg", Reg),
    f(2, "modulus", U32),
    f(3, "type", Enum32(NG_TYPES)),
    f(4, "offset", U32),
];
pub const EXTHDR: &[Field] = &[
    f(1, "dreg", Reg),
    f(2, "type", U8),
    f(3, "offset", U32),
    f(4, "len", U32),
    f(5, "flags", Flags32(EXTHDR_FLAGS)),
    f(6, "op", Enum32(EXTHDR_OPS)),
    f(7, "sreg", Reg),
];
pub const OSF: &[Field] = &[
    f(1, "dreg", Reg),
    f(2, "ttl", U8),
    f(3, "flags", Flags32(OSF_FLAGS)),
];
pub const SYNPROXY: &[Field] = &[
    f(1, "mss", U16),
    f(2, "wscale", U8),
    f(3, "flags", Flags32(SYNPROXY_FLAGS)),
];
pub const XFRM: &[Field] = &[
    f(1, "dreg", Reg),
    f(2, "key", Enum32(XFRM_KEYS)),
    f(3, "dir", U8),
    f(4, "spnum", U32),
];
pub const LAST: &[Field] = &[f(1, "set", U32), f(2, "msecs", U64)];
pub const FLOW_OFFLOAD: &[Field] = &[f(1, "table", Str)];
pub const NOTRACK: &[Field] = &[];
pub const SECMARK: &[Field] = &[f(1, "ctx", Str)];
pub const CT_HELPER: &[Field] = &[f(1, "name", Str), f(2, "l3proto", U16), f(3, "l4proto", U8)];
pub const CT_TIMEOUT: &[Field] = &[
    f(1, "l3proto", U16),
    f(2, "l4proto", U8),
    f(3, "policy", U32Array),
];
pub const CT_EXPECT: &[Field] = &[
    f(1, "l3proto", U16),
    f(2, "l4proto", U8),
    f(3, "dport", U16),
    f(4, "timeout", U32Host),
    f(5, "size", U8),
];

/// Expression name (NFTA_EXPR_NAME, the kernel's `nft_expr_type.name`) => schema.
pub const EXPRS: &[(&str, &[Field])] = &[
    ("immediate", IMMEDIATE),
    ("cmp", CMP),
    ("range", RANGE),
    ("payload", PAYLOAD),
    ("meta", META),
    ("bitwise", BITWISE),
    ("byteorder", BYTEORDER),
    ("ct", CT),
    ("lookup", LOOKUP),
    ("dynset", DYNSET),
    ("counter", COUNTER),
    ("limit", LIMIT),
    ("quota", QUOTA),
    ("connlimit", CONNLIMIT),
    ("log", LOG),
    ("queue", QUEUE),
    ("reject", REJECT),
    ("nat", NAT),
    ("masq", MASQ),
    ("redir", REDIR),
    ("tproxy", TPROXY),
    ("dup", DUP),
    ("fwd", FWD),
    ("objref", OBJREF),
    ("fib", FIB),
    ("rt", RT),
    ("socket", SOCKET),
    ("hash", HASH),
    ("numgen", NUMGEN),
    ("exthdr", EXTHDR),
    ("osf", OSF),
    ("synproxy", SYNPROXY),
    ("xfrm", XFRM),
    ("last", LAST),
    ("flow_offload", FLOW_OFFLOAD),
    ("notrack", NOTRACK),
];

/// Object type (NFTA_OBJ_TYPE) => schema of its NFTA_OBJ_DATA.
pub const OBJECTS: &[(&str, &[Field])] = &[
    ("counter", COUNTER),
    ("quota", QUOTA),
    ("ct_helper", CT_HELPER),
    ("limit", LIMIT),
    ("connlimit", CONNLIMIT),
    ("ct_timeout", CT_TIMEOUT),
    ("secmark", SECMARK),
    ("ct_expect", CT_EXPECT),
    ("synproxy", SYNPROXY),
];

pub fn expr_schema(name: &str) -> Option<(&'static str, &'static [Field])> {
    EXPRS.iter().find(|(n, _)| *n == name).copied()
}

pub fn object_schema(name: &str) -> Option<(&'static str, &'static [Field])> {
    OBJECTS.iter().find(|(n, _)| *n == name).copied()
}

// --- the plain attributes of the top-level messages (`enum nft_<object>_attributes`) ---
// Attributes with structure of their own (hooks, user data, expression lists, nests)
// are decoded by hand in decode.rs; these are the scalar and string ones.

pub const TABLE_MSG: &[Field] = &[
    f(1, "name", Str),
    f(2, "flags", Flags32(TABLE_FLAGS)),
    f(3, "use", U32),
    f(4, "handle", U64),
    f(7, "owner", U32),
];
pub const CHAIN_MSG: &[Field] = &[
    f(1, "table", Str),
    f(2, "handle", U64),
    f(3, "name", Str),
    f(5, "policy", Enum32(POLICIES)),
    f(6, "use", U32),
    f(10, "flags", Flags32(CHAIN_FLAGS)),
    f(11, "id", U32),
];
pub const RULE_MSG: &[Field] = &[
    f(1, "table", Str),
    f(2, "chain", Str),
    f(3, "handle", U64),
    f(6, "position", U64),
    f(9, "id", U32),
    f(10, "position_id", U32),
    f(11, "chain_id", U32),
];
pub const SET_MSG: &[Field] = &[
    f(1, "table", Str),
    f(2, "name", Str),
    f(3, "flags", Flags32(SET_FLAGS)),
    f(4, "key_type", U32),
    f(5, "key_len", U32),
    f(7, "data_len", U32),
    f(8, "policy", Enum32(SET_POLICIES)),
    f(10, "id", U32),
    f(11, "timeout", U64),
    f(12, "gc_interval", U32),
    f(15, "obj_type", Enum32(OBJECT_TYPES)),
    f(16, "handle", U64),
];
pub const SET_ELEM: &[Field] = &[
    f(1, "key", Data),
    f(2, "data", Data),
    f(3, "flags", Flags32(SET_ELEM_FLAGS)),
    f(4, "timeout", U64),
    f(5, "expiration", U64),
    f(9, "objref", Str),
    f(10, "key_end", Data),
];
pub const SETELEM_MSG: &[Field] = &[f(1, "table", Str), f(2, "set", Str), f(4, "set_id", U32)];
pub const OBJ_MSG: &[Field] = &[
    f(1, "table", Str),
    f(2, "name", Str),
    f(3, "type", Enum32(OBJECT_TYPES)),
    f(5, "use", U32),
    f(6, "handle", U64),
];
pub const FLOWTABLE_MSG: &[Field] = &[
    f(1, "table", Str),
    f(2, "name", Str),
    f(4, "use", U32),
    f(5, "handle", U64),
    f(7, "flags", Flags32(FLOWTABLE_FLAGS)),
];
pub const GEN_MSG: &[Field] = &[
    f(1, "id", U32),
    f(2, "proc_pid", U32),
    f(3, "proc_name", Str),
];
pub const TRACE_MSG: &[Field] = &[
    f(1, "table", Str),
    f(2, "chain", Str),
    f(3, "rule_handle", U64),
    f(4, "type", U32),
    f(6, "id", U32),
    f(7, "ll_header", Bin),
    f(8, "network_header", Bin),
    f(9, "transport_header", Bin),
    f(10, "iif", U32),
    f(12, "oif", U32),
    f(14, "mark", U32),
    f(15, "nfproto", U32),
    f(16, "policy", U32),
];
