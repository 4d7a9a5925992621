//! Netlink framing: `nlmsghdr` (netlink.h, native-endian), `nfgenmsg` (nfnetlink.h:
//! family u8, version u8, res_id be16) and `nlattr` TLVs (len u16, type u16, value,
//! padding to 4 bytes; native-endian header, big-endian nf_tables integers inside).

use crate::consts::{NLA_F_NESTED, NLA_TYPE_MASK};

pub const NLMSG_HDRLEN: usize = 16;
pub const NFGENMSG_LEN: usize = 4;
/// An attribute's 16-bit length counts its 4-byte header.
pub const MAX_ATTR_LEN: usize = 0xffff;

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// Attribute writer over a growing buffer.
#[derive(Default)]
pub struct Writer {
    pub buf: Vec<u8>,
}

#[derive(Debug, PartialEq)]
pub struct TooLong;

impl Writer {
    pub fn new() -> Self {
        Writer { buf: Vec::new() }
    }

    pub fn attr(&mut self, ty: u16, value: &[u8]) -> Result<(), TooLong> {
        self.header(ty, value.len())?;
        self.buf.extend_from_slice(value);
        self.pad();
        Ok(())
    }

    /// An attribute header for `value_len` bytes of value.
    fn header(&mut self, ty: u16, value_len: usize) -> Result<(), TooLong> {
        let len = 4 + value_len;
        if len > MAX_ATTR_LEN {
            return Err(TooLong);
        }
        self.buf.extend_from_slice(&(len as u16).to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        Ok(())
    }

    fn pad(&mut self) {
        let target = align4(self.buf.len());
        self.buf.resize(target, 0);
    }

    pub fn u8(&mut self, ty: u16, v: u8) -> Result<(), TooLong> {
        self.attr(ty, &[v])
    }

    pub fn be16(&mut self, ty: u16, v: u16) -> Result<(), TooLong> {
        self.attr(ty, &v.to_be_bytes())
    }

    pub fn be32(&mut self, ty: u16, v: u32) -> Result<(), TooLong> {
        self.attr(ty, &v.to_be_bytes())
    }

    pub fn be64(&mut self, ty: u16, v: u64) -> Result<(), TooLong> {
        self.attr(ty, &v.to_be_bytes())
    }

    /// A NUL-terminated string (the kernel's NLA_STRING/NLA_NUL_STRING policies),
    /// written in place: names go out several times per rule.
    pub fn string(&mut self, ty: u16, s: &[u8]) -> Result<(), TooLong> {
        self.header(ty, s.len() + 1)?;
        self.buf.extend_from_slice(s);
        self.buf.push(0);
        self.pad();
        Ok(())
    }

    /// Opens a nested attribute (flagged NLA_F_NESTED, as libnftnl sends them); the
    /// returned offset goes to `end_nest`.
    pub fn begin_nest(&mut self, ty: u16) -> usize {
        let at = self.buf.len();
        self.buf.extend_from_slice(&[0, 0]);
        self.buf
            .extend_from_slice(&(ty | NLA_F_NESTED).to_ne_bytes());
        at
    }

    pub fn end_nest(&mut self, at: usize) -> Result<(), TooLong> {
        let len = self.buf.len() - at;
        if len > MAX_ATTR_LEN {
            return Err(TooLong);
        }
        self.buf[at..at + 2].copy_from_slice(&(len as u16).to_ne_bytes());
        Ok(())
    }
}

/// Builds one netlink message: header, nfgenmsg, then the attribute bytes.
pub fn message(ty: u16, flags: u16, seq: u32, family: u8, res_id: u16, attrs: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(message_len(attrs.len()));
    append_message(&mut m, ty, flags, seq, family, res_id, attrs);
    m
}

/// The bytes a message with `attrs_len` bytes of attributes takes, padding included.
pub fn message_len(attrs_len: usize) -> usize {
    align4(NLMSG_HDRLEN + NFGENMSG_LEN + attrs_len)
}

/// [`message`], appended to `out` (a batch is built in one buffer this way).
pub fn append_message(
    out: &mut Vec<u8>,
    ty: u16,
    flags: u16,
    seq: u32,
    family: u8,
    res_id: u16,
    attrs: &[u8],
) {
    let len = NLMSG_HDRLEN + NFGENMSG_LEN + attrs.len();
    out.extend_from_slice(&(len as u32).to_ne_bytes());
    out.extend_from_slice(&ty.to_ne_bytes());
    out.extend_from_slice(&flags.to_ne_bytes());
    out.extend_from_slice(&seq.to_ne_bytes());
    out.extend_from_slice(&0u32.to_ne_bytes());
    out.push(family);
    out.push(0); // NFNETLINK_V0
    out.extend_from_slice(&res_id.to_be_bytes());
    out.extend_from_slice(attrs);
    out.resize(out.len() + (align4(len) - len), 0);
}

/// One parsed attribute: type without flag bits, whether it was flagged nested, value.
#[derive(Clone, Copy, Debug)]
pub struct Attr<'a> {
    pub ty: u16,
    pub value: &'a [u8],
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ParseError {
    BadLength,
}

/// Parses a buffer of attributes. A tail shorter than a header is padding; a length
/// below 4 or past the end is an error. Never panics.
pub fn parse_attrs(mut buf: &[u8]) -> Result<Vec<Attr<'_>>, ParseError> {
    let mut out = Vec::new();
    while buf.len() >= 4 {
        let len = u16::from_ne_bytes([buf[0], buf[1]]) as usize;
        let ty = u16::from_ne_bytes([buf[2], buf[3]]) & NLA_TYPE_MASK;
        if len < 4 || len > buf.len() {
            return Err(ParseError::BadLength);
        }
        out.push(Attr {
            ty,
            value: &buf[4..len],
        });
        let next = align4(len).min(buf.len());
        buf = &buf[next..];
    }
    Ok(out)
}

/// A message split out of a buffer: type, flags, seq, port id, payload (after nlmsghdr).
#[derive(Debug, Clone, Copy)]
pub struct Msg<'a> {
    pub ty: u16,
    pub flags: u16,
    pub seq: u32,
    pub pid: u32,
    pub payload: &'a [u8],
}

/// Splits a datagram into messages. Never panics; framing errors end the walk.
pub fn split_messages(mut buf: &[u8]) -> Result<Vec<Msg<'_>>, &'static str> {
    let mut out = Vec::new();
    while buf.len() >= NLMSG_HDRLEN {
        let len = u32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
        if len < NLMSG_HDRLEN {
            return Err("bad_length");
        }
        if len > buf.len() {
            return Err("overrun");
        }
        out.push(Msg {
            ty: u16::from_ne_bytes([buf[4], buf[5]]),
            flags: u16::from_ne_bytes([buf[6], buf[7]]),
            seq: u32::from_ne_bytes([buf[8], buf[9], buf[10], buf[11]]),
            pid: u32::from_ne_bytes([buf[12], buf[13], buf[14], buf[15]]),
            payload: &buf[NLMSG_HDRLEN..len],
        });
        let next = align4(len).min(buf.len());
        buf = &buf[next..];
    }
    Ok(out)
}

pub fn be16(v: &[u8]) -> Option<u16> {
    v.try_into().ok().map(u16::from_be_bytes)
}

pub fn be32(v: &[u8]) -> Option<u32> {
    v.try_into().ok().map(u32::from_be_bytes)
}

pub fn be64(v: &[u8]) -> Option<u64> {
    v.try_into().ok().map(u64::from_be_bytes)
}

/// A string attribute without its NUL terminator (and anything after one).
pub fn cstr(v: &[u8]) -> &[u8] {
    match v.iter().position(|b| *b == 0) {
        Some(i) => &v[..i],
        None => v,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attr_padding_and_nesting() {
        let mut w = Writer::new();
        w.string(1, b"t").unwrap();
        // len 4+2=6, padded to 8
        assert_eq!(w.buf, vec![6, 0, 1, 0, b't', 0, 0, 0]);
        let at = w.begin_nest(2);
        w.be32(1, 0x01020304).unwrap();
        w.end_nest(at).unwrap();
        assert_eq!(
            &w.buf[8..],
            &[12, 0, 2, 0x80, 8, 0, 1, 0, 1, 2, 3, 4][..],
            "nested len counts header + children; type carries NLA_F_NESTED"
        );
        let attrs = parse_attrs(&w.buf).unwrap();
        assert_eq!(attrs.len(), 2);
        assert_eq!(attrs[1].ty, 2);
        assert_eq!(
            be32(parse_attrs(attrs[1].value).unwrap()[0].value),
            Some(0x01020304)
        );
    }

    #[test]
    fn parse_rejects_bad_lengths() {
        assert_eq!(
            parse_attrs(&[3, 0, 1, 0]).unwrap_err(),
            ParseError::BadLength
        );
        assert_eq!(
            parse_attrs(&[9, 0, 1, 0, 0]).unwrap_err(),
            ParseError::BadLength
        );
        assert!(parse_attrs(&[1, 2, 3]).unwrap().is_empty());
    }

    #[test]
    fn message_layout() {
        // struct nlmsghdr { __u32 len; __u16 type; __u16 flags; __u32 seq; __u32 pid; }
        // struct nfgenmsg { __u8 nfgen_family; __u8 version; __be16 res_id; }
        let m = message(0x0a00, 0x0405, 7, 1, 10, &[]);
        assert_eq!(m.len(), 20);
        assert_eq!(&m[0..4], &20u32.to_ne_bytes());
        assert_eq!(&m[4..6], &0x0a00u16.to_ne_bytes());
        assert_eq!(&m[6..8], &0x0405u16.to_ne_bytes());
        assert_eq!(&m[8..12], &7u32.to_ne_bytes());
        assert_eq!(&m[16..20], &[1, 0, 0, 10]);
        let msgs = split_messages(&m).unwrap();
        assert_eq!(msgs[0].seq, 7);
        assert_eq!(msgs[0].payload, &[1, 0, 0, 10]);
    }
}
