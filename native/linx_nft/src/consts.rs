//! Constants of the nf_tables netlink protocol.
//!
//! Sources: /usr/include/linux/netfilter/nf_tables.h (6.1 uapi, installed here),
//! /usr/include/linux/netfilter/nfnetlink.h, /usr/include/linux/netfilter.h,
//! /usr/include/linux/netfilter/{nf_nat.h,nf_log.h,nf_synproxy.h,nf_conntrack_common.h}.
//! Values added by kernels newer than the installed header (DESTROY* messages, 6.3;
//! NFT_TABLE_F_PERSIST, 6.9; NFT_META_BRI_BROUTE, 6.4) are marked as such.

/// An `(value, name)` table mapping a kernel number to the atom Linx uses for it.
pub type Table = &'static [(u32, &'static str)];

pub fn name_of(table: Table, value: u32) -> Option<&'static str> {
    table.iter().find(|(v, _)| *v == value).map(|(_, n)| *n)
}

pub fn value_of(table: Table, name: &str) -> Option<u32> {
    table.iter().find(|(_, n)| *n == name).map(|(v, _)| *v)
}

// nfnetlink.h
pub const NFNL_SUBSYS_NFTABLES: u16 = 10;
pub const NFNL_MSG_BATCH_BEGIN: u16 = 0x10; // NLMSG_MIN_TYPE
pub const NFNL_MSG_BATCH_END: u16 = 0x11;
pub const NFNL_BATCH_GENID: u16 = 1;

// netlink.h
pub const NLM_F_REQUEST: u16 = 0x01;
pub const NLM_F_ACK: u16 = 0x04;
pub const NLM_F_ROOT: u16 = 0x100;
pub const NLM_F_MATCH: u16 = 0x200;
pub const NLM_F_REPLACE: u16 = 0x100;
pub const NLM_F_EXCL: u16 = 0x200;
pub const NLM_F_CREATE: u16 = 0x400;
pub const NLM_F_APPEND: u16 = 0x800;
pub const NLA_F_NESTED: u16 = 0x8000;
pub const NLA_TYPE_MASK: u16 = 0x3fff;

/// enum nf_tables_msg_types (DESTROY* are 6.3+ and not in the 6.1 header).
pub const MSG_TYPES: Table = &[
    (0, "new_table"),
    (1, "get_table"),
    (2, "del_table"),
    (3, "new_chain"),
    (4, "get_chain"),
    (5, "del_chain"),
    (6, "new_rule"),
    (7, "get_rule"),
    (8, "del_rule"),
    (9, "new_set"),
    (10, "get_set"),
    (11, "del_set"),
    (12, "new_setelem"),
    (13, "get_setelem"),
    (14, "del_setelem"),
    (15, "new_gen"),
    (16, "get_gen"),
    (17, "trace"),
    (18, "new_obj"),
    (19, "get_obj"),
    (20, "del_obj"),
    (21, "get_obj_reset"),
    (22, "new_flowtable"),
    (23, "get_flowtable"),
    (24, "del_flowtable"),
    (25, "get_rule_reset"),
    (26, "destroy_table"),
    (27, "destroy_chain"),
    (28, "destroy_rule"),
    (29, "destroy_set"),
    (30, "destroy_setelem"),
    (31, "destroy_obj"),
    (32, "destroy_flowtable"),
    (33, "get_setelem_reset"),
];

/// netfilter.h NFPROTO_*; the atoms are nft's family names.
pub const FAMILIES: Table = &[
    (0, "unspec"),
    (1, "inet"),
    (2, "ip"),
    (3, "arp"),
    (5, "netdev"),
    (7, "bridge"),
    (10, "ip6"),
];

/// Hook numbers depend on the family (netfilter.h enum nf_inet_hooks, enum
/// nf_dev_hooks; netfilter_arp.h NF_ARP_IN/OUT/FORWARD).
pub const INET_HOOKS: Table = &[
    (0, "prerouting"),
    (1, "input"),
    (2, "forward"),
    (3, "output"),
    (4, "postrouting"),
    (5, "ingress"),
];
pub const ARP_HOOKS: Table = &[(0, "input"), (1, "output"), (2, "forward")];
pub const NETDEV_HOOKS: Table = &[(0, "ingress"), (1, "egress")];

pub fn hooks_for(family: u8) -> Table {
    match family {
        3 => ARP_HOOKS,
        5 => NETDEV_HOOKS,
        _ => INET_HOOKS,
    }
}

/// enum nft_table_flags (persist: 6.9+).
pub const TABLE_FLAGS: Table = &[(0x1, "dormant"), (0x2, "owner"), (0x4, "persist")];

/// enum nft_chain_flags.
pub const CHAIN_FLAGS: Table = &[(0x1, "base"), (0x2, "hw_offload"), (0x4, "binding")];

/// Chain policies are netfilter verdicts (NF_DROP 0, NF_ACCEPT 1).
pub const POLICIES: Table = &[(0, "drop"), (1, "accept")];

/// Chain types travel as strings; these are the kernel's names.
pub const CHAIN_TYPES: &[&str] = &["filter", "nat", "route"];

/// enum nft_set_flags.
pub const SET_FLAGS: Table = &[
    (0x1, "anonymous"),
    (0x2, "constant"),
    (0x4, "interval"),
    (0x8, "map"),
    (0x10, "timeout"),
    (0x20, "eval"),
    (0x40, "object"),
    (0x80, "concat"),
    (0x100, "expr"),
];

/// enum nft_set_policies.
pub const SET_POLICIES: Table = &[(0, "performance"), (1, "memory")];

/// enum nft_set_elem_flags.
pub const SET_ELEM_FLAGS: Table = &[(0x1, "interval_end"), (0x2, "catchall")];

/// NFT_OBJECT_*.
pub const OBJECT_TYPES: Table = &[
    (1, "counter"),
    (2, "quota"),
    (3, "ct_helper"),
    (4, "limit"),
    (5, "connlimit"),
    (6, "tunnel"),
    (7, "ct_timeout"),
    (8, "secmark"),
    (9, "ct_expect"),
    (10, "synproxy"),
];

/// enum nft_flowtable_flags.
pub const FLOWTABLE_FLAGS: Table = &[(0x1, "hw_offload"), (0x2, "counter")];

/// netfilter.h NF_DROP/NF_ACCEPT/NF_QUEUE and enum nft_verdicts.
pub const VERDICTS: &[(i32, &str)] = &[
    (0, "drop"),
    (1, "accept"),
    (3, "queue"),
    (-1, "continue"),
    (-2, "break"),
    (-3, "jump"),
    (-4, "goto"),
    (-5, "return"),
];

pub fn verdict_name(code: i32) -> Option<&'static str> {
    VERDICTS.iter().find(|(c, _)| *c == code).map(|(_, n)| *n)
}

pub fn verdict_code(name: &str) -> Option<i32> {
    VERDICTS.iter().find(|(_, n)| *n == name).map(|(c, _)| *c)
}

/// enum nft_cmp_ops.
pub const CMP_OPS: Table = &[
    (0, "eq"),
    (1, "neq"),
    (2, "lt"),
    (3, "lte"),
    (4, "gt"),
    (5, "gte"),
];

/// enum nft_range_ops.
pub const RANGE_OPS: Table = &[(0, "eq"), (1, "neq")];

/// enum nft_payload_bases.
pub const PAYLOAD_BASES: Table = &[(0, "link"), (1, "network"), (2, "transport"), (3, "inner")];

/// enum nft_payload_csum_types.
pub const CSUM_TYPES: Table = &[(0, "none"), (1, "inet"), (2, "sctp")];

/// enum nft_payload_csum_flags.
pub const CSUM_FLAGS: Table = &[(0x1, "pseudohdr")];

/// enum nft_bitwise_ops.
pub const BITWISE_OPS: Table = &[(0, "bool"), (1, "lshift"), (2, "rshift")];

/// enum nft_byteorder_ops.
pub const BYTEORDER_OPS: Table = &[(0, "ntoh"), (1, "hton")];

/// enum nft_meta_keys (bri_broute: 6.4+).
pub const META_KEYS: Table = &[
    (0, "len"),
    (1, "protocol"),
    (2, "priority"),
    (3, "mark"),
    (4, "iif"),
    (5, "oif"),
    (6, "iifname"),
    (7, "oifname"),
    (8, "iiftype"),
    (9, "oiftype"),
    (10, "skuid"),
    (11, "skgid"),
    (12, "nftrace"),
    (13, "rtclassid"),
    (14, "secmark"),
    (15, "nfproto"),
    (16, "l4proto"),
    (17, "bri_iifname"),
    (18, "bri_oifname"),
    (19, "pkttype"),
    (20, "cpu"),
    (21, "iifgroup"),
    (22, "oifgroup"),
    (23, "cgroup"),
    (24, "prandom"),
    (25, "secpath"),
    (26, "iifkind"),
    (27, "oifkind"),
    (28, "bri_iifpvid"),
    (29, "bri_iifvproto"),
    (30, "time_ns"),
    (31, "time_day"),
    (32, "time_hour"),
    (33, "sdif"),
    (34, "sdifname"),
    (35, "bri_broute"),
];

/// enum nft_ct_keys.
pub const CT_KEYS: Table = &[
    (0, "state"),
    (1, "direction"),
    (2, "status"),
    (3, "mark"),
    (4, "secmark"),
    (5, "expiration"),
    (6, "helper"),
    (7, "l3protocol"),
    (8, "src"),
    (9, "dst"),
    (10, "protocol"),
    (11, "proto_src"),
    (12, "proto_dst"),
    (13, "labels"),
    (14, "pkts"),
    (15, "bytes"),
    (16, "avgpkt"),
    (17, "zone"),
    (18, "eventmask"),
    (19, "src_ip"),
    (20, "dst_ip"),
    (21, "src_ip6"),
    (22, "dst_ip6"),
    (23, "id"),
];

/// nf_conntrack_tuple_common.h enum ip_conntrack_dir.
pub const CT_DIRECTIONS: Table = &[(0, "original"), (1, "reply")];

/// enum nft_lookup_flags.
pub const LOOKUP_FLAGS: Table = &[(0x1, "inv")];

/// enum nft_dynset_ops / nft_dynset_flags.
pub const DYNSET_OPS: Table = &[(0, "add"), (1, "update"), (2, "delete")];
pub const DYNSET_FLAGS: Table = &[(0x1, "inv"), (0x2, "expr")];

/// enum nft_limit_type / nft_limit_flags.
pub const LIMIT_TYPES: Table = &[(0, "pkts"), (1, "bytes")];
pub const LIMIT_FLAGS: Table = &[(0x1, "inv")];

/// enum nft_connlimit_flags.
pub const CONNLIMIT_FLAGS: Table = &[(0x1, "inv")];

/// enum nft_quota_flags.
pub const QUOTA_FLAGS: Table = &[(0x1, "inv"), (0x2, "depleted")];

/// enum nft_log_level.
pub const LOG_LEVELS: Table = &[
    (0, "emerg"),
    (1, "alert"),
    (2, "crit"),
    (3, "err"),
    (4, "warn"),
    (5, "notice"),
    (6, "info"),
    (7, "debug"),
    (8, "audit"),
];

/// nf_log.h NF_LOG_*.
pub const LOG_FLAGS: Table = &[
    (0x01, "tcp_seq"),
    (0x02, "tcp_opt"),
    (0x04, "ip_opt"),
    (0x08, "uid"),
    (0x10, "nflog"),
    (0x20, "macdecode"),
];

/// NFT_QUEUE_FLAG_*.
pub const QUEUE_FLAGS: Table = &[(0x1, "bypass"), (0x2, "fanout")];

/// enum nft_reject_types.
pub const REJECT_TYPES: Table = &[(0, "icmp_unreach"), (1, "tcp_reset"), (2, "icmpx_unreach")];

/// enum nft_nat_types.
pub const NAT_TYPES: Table = &[(0, "snat"), (1, "dnat")];

/// nf_nat.h NF_NAT_RANGE_*.
pub const NAT_FLAGS: Table = &[
    (0x01, "map_ips"),
    (0x02, "proto_specified"),
    (0x04, "random"),
    (0x08, "persistent"),
    (0x10, "fully_random"),
    (0x20, "proto_offset"),
    (0x40, "netmap"),
];

/// enum nft_fib_result / nft_fib_flags.
pub const FIB_RESULTS: Table = &[(0, "unspec"), (1, "oif"), (2, "oifname"), (3, "addrtype")];
pub const FIB_FLAGS: Table = &[
    (0x01, "saddr"),
    (0x02, "daddr"),
    (0x04, "mark"),
    (0x08, "iif"),
    (0x10, "oif"),
    (0x20, "present"),
];

/// enum nft_rt_keys.
pub const RT_KEYS: Table = &[
    (0, "classid"),
    (1, "nexthop4"),
    (2, "nexthop6"),
    (3, "tcpmss"),
    (4, "xfrm"),
];

/// enum nft_socket_keys.
pub const SOCKET_KEYS: Table = &[
    (0, "transparent"),
    (1, "mark"),
    (2, "wildcard"),
    (3, "cgroupv2"),
];

/// enum nft_hash_types.
pub const HASH_TYPES: Table = &[(0, "jenkins"), (1, "sym")];

/// enum nft_ng_types.
pub const NG_TYPES: Table = &[(0, "inc"), (1, "random")];

/// enum nft_exthdr_op / nft_exthdr_flags.
pub const EXTHDR_OPS: Table = &[
    (0, "ipv6"),
    (1, "tcpopt"),
    (2, "ipv4"),
    (3, "sctp"),
    (4, "dccp"),
];
pub const EXTHDR_FLAGS: Table = &[(0x1, "present")];

/// enum nft_osf_flags.
pub const OSF_FLAGS: Table = &[(0x1, "version")];

/// nf_synproxy.h NF_SYNPROXY_OPT_*.
pub const SYNPROXY_FLAGS: Table = &[
    (0x01, "mss"),
    (0x02, "wscale"),
    (0x04, "sack_perm"),
    (0x08, "timestamp"),
    (0x10, "ecn"),
];

/// enum nft_xfrm_keys.
pub const XFRM_KEYS: Table = &[
    (1, "daddr_ip4"),
    (2, "daddr_ip6"),
    (3, "saddr_ip4"),
    (4, "saddr_ip6"),
    (5, "reqid"),
    (6, "spi"),
];

/// Userdata TLV types (libnftnl's NFTNL_UDATA_*_COMMENT is 0 for tables, chains,
/// rules and objects, 7 for sets); 16 is the Linx rule tag (0.2's choice).
pub const UDATA_COMMENT: u8 = 0;
pub const UDATA_SET_KEYBYTEORDER: u8 = 0;
pub const UDATA_SET_DATABYTEORDER: u8 = 1;
pub const UDATA_SET_MERGE_ELEMENTS: u8 = 2;
pub const UDATA_SET_COMMENT: u8 = 7;
pub const UDATA_SET_ELEM_COMMENT: u8 = 0;
pub const UDATA_RULE_TAG: u8 = 16;

#[cfg(test)]
mod tests {
    use super::*;

    fn unique(t: Table) {
        for (i, (v, n)) in t.iter().enumerate() {
            for (v2, n2) in &t[i + 1..] {
                assert_ne!(v, v2, "duplicate value {v}");
                assert_ne!(n, n2, "duplicate name {n}");
            }
        }
    }

    #[test]
    fn tables_are_bijective() {
        for t in [
            MSG_TYPES,
            FAMILIES,
            INET_HOOKS,
            META_KEYS,
            CT_KEYS,
            SET_FLAGS,
            NAT_FLAGS,
            LOG_LEVELS,
            LOG_FLAGS,
            OBJECT_TYPES,
            CMP_OPS,
            EXTHDR_OPS,
            FIB_FLAGS,
        ] {
            unique(t);
        }
    }

    // Spot checks against nf_tables.h (the enums count from 0 in declaration order).
    #[test]
    fn header_values() {
        assert_eq!(value_of(META_KEYS, "nfproto"), Some(15));
        assert_eq!(value_of(META_KEYS, "l4proto"), Some(16));
        assert_eq!(value_of(META_KEYS, "nftrace"), Some(12));
        assert_eq!(value_of(META_KEYS, "sdifname"), Some(34));
        assert_eq!(value_of(CT_KEYS, "id"), Some(23));
        assert_eq!(value_of(MSG_TYPES, "get_gen"), Some(16));
        assert_eq!(value_of(MSG_TYPES, "new_flowtable"), Some(22));
        assert_eq!(value_of(OBJECT_TYPES, "synproxy"), Some(10));
        assert_eq!(value_of(FAMILIES, "ip6"), Some(10));
        assert_eq!(verdict_code("return"), Some(-5));
        assert_eq!(value_of(SET_FLAGS, "expr"), Some(0x100));
    }
}
