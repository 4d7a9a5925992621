//! Erlang External Term Format, the subset the Linx.Process wire protocol needs.
//!
//! Reference: the "External Term Format" chapter of the ERTS user's guide. Every term
//! starts with the version byte 131; we read integers, atoms (all four encodings),
//! binaries, tuples, proper lists, `STRING_EXT` (a list of bytes) and maps, and write
//! integers, atoms, binaries and tuples. Anything else (floats, pids, compressed terms,
//! bitstrings) is refused. The decoder never panics: lengths are checked against the
//! bytes that are left before anything is allocated, and nesting is bounded.

use thiserror::Error;

const VERSION: u8 = 131;
const NEW_FLOAT_EXT: u8 = 70;
const BIT_BINARY_EXT: u8 = 77;
const COMPRESSED: u8 = 80;
const SMALL_INTEGER_EXT: u8 = 97;
const INTEGER_EXT: u8 = 98;
const ATOM_EXT: u8 = 100;
const SMALL_TUPLE_EXT: u8 = 104;
const LARGE_TUPLE_EXT: u8 = 105;
const NIL_EXT: u8 = 106;
const STRING_EXT: u8 = 107;
const LIST_EXT: u8 = 108;
const BINARY_EXT: u8 = 109;
const SMALL_BIG_EXT: u8 = 110;
const LARGE_BIG_EXT: u8 = 111;
const SMALL_ATOM_EXT: u8 = 115;
const MAP_EXT: u8 = 116;
const ATOM_UTF8_EXT: u8 = 118;
const SMALL_ATOM_UTF8_EXT: u8 = 119;

/// Deeper nesting than this is refused (the protocol needs depth 4).
const MAX_DEPTH: usize = 32;

/// A decoded term. Integers are kept as `i128`, enough for any `u64` mask.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Term {
    Int(i128),
    Atom(String),
    Binary(Vec<u8>),
    Tuple(Vec<Term>),
    /// A proper list; `[]` is an empty `List`, and `STRING_EXT` becomes a list of `Int`s.
    List(Vec<Term>),
    Map(Vec<(Term, Term)>),
}

/// Why a byte string is not a term we accept.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    #[error("missing version byte 131")]
    Version,
    #[error("truncated term")]
    Truncated,
    #[error("unsupported tag {0}")]
    Unsupported(u8),
    #[error("integer does not fit 128 bits")]
    BigInteger,
    #[error("improper list")]
    ImproperList,
    #[error("atom is not valid UTF-8")]
    BadAtom,
    #[error("nesting deeper than {MAX_DEPTH}")]
    TooDeep,
    #[error("{0} bytes after the term")]
    Trailing(usize),
}

/// Decodes exactly one term occupying all of `bytes`.
pub fn decode(bytes: &[u8]) -> Result<Term, DecodeError> {
    let (&version, rest) = bytes.split_first().ok_or(DecodeError::Truncated)?;
    if version != VERSION {
        return Err(DecodeError::Version);
    }
    let mut reader = Reader { buf: rest, pos: 0 };
    let term = reader.term(0)?;
    match reader.buf.len() - reader.pos {
        0 => Ok(term),
        n => Err(DecodeError::Trailing(n)),
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.pos.checked_add(n).ok_or(DecodeError::Truncated)?;
        let slice = self.buf.get(self.pos..end).ok_or(DecodeError::Truncated)?;
        self.pos = end;
        Ok(slice)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<usize, DecodeError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]) as usize)
    }

    fn u32(&mut self) -> Result<usize, DecodeError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
    }

    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Refuses a count that could not possibly fit in what is left (each element is at
    /// least `min_size` bytes), so garbage cannot make us allocate gigabytes.
    fn check_count(&self, count: usize, min_size: usize) -> Result<(), DecodeError> {
        if count.saturating_mul(min_size) > self.remaining() {
            Err(DecodeError::Truncated)
        } else {
            Ok(())
        }
    }

    fn term(&mut self, depth: usize) -> Result<Term, DecodeError> {
        if depth > MAX_DEPTH {
            return Err(DecodeError::TooDeep);
        }
        let tag = self.u8()?;
        match tag {
            SMALL_INTEGER_EXT => Ok(Term::Int(self.u8()? as i128)),
            INTEGER_EXT => {
                let b = self.take(4)?;
                Ok(Term::Int(
                    i32::from_be_bytes([b[0], b[1], b[2], b[3]]) as i128
                ))
            }
            SMALL_BIG_EXT => {
                let n = self.u8()? as usize;
                self.big(n)
            }
            LARGE_BIG_EXT => {
                let n = self.u32()?;
                self.big(n)
            }
            ATOM_EXT | SMALL_ATOM_EXT => {
                let n = if tag == ATOM_EXT {
                    self.u16()?
                } else {
                    self.u8()? as usize
                };
                // Latin-1: every byte is the code point of the same value.
                Ok(Term::Atom(
                    self.take(n)?.iter().map(|&b| b as char).collect(),
                ))
            }
            ATOM_UTF8_EXT | SMALL_ATOM_UTF8_EXT => {
                let n = if tag == ATOM_UTF8_EXT {
                    self.u16()?
                } else {
                    self.u8()? as usize
                };
                let bytes = self.take(n)?;
                let s = std::str::from_utf8(bytes).map_err(|_| DecodeError::BadAtom)?;
                Ok(Term::Atom(s.to_owned()))
            }
            SMALL_TUPLE_EXT => {
                let n = self.u8()? as usize;
                self.elements(n, depth).map(Term::Tuple)
            }
            LARGE_TUPLE_EXT => {
                let n = self.u32()?;
                self.elements(n, depth).map(Term::Tuple)
            }
            NIL_EXT => Ok(Term::List(Vec::new())),
            STRING_EXT => {
                let n = self.u16()?;
                let bytes = self.take(n)?;
                Ok(Term::List(
                    bytes.iter().map(|&b| Term::Int(b as i128)).collect(),
                ))
            }
            LIST_EXT => {
                let n = self.u32()?;
                let items = self.elements(n, depth)?;
                match self.term(depth + 1)? {
                    Term::List(tail) if tail.is_empty() => Ok(Term::List(items)),
                    _ => Err(DecodeError::ImproperList),
                }
            }
            BINARY_EXT => {
                let n = self.u32()?;
                Ok(Term::Binary(self.take(n)?.to_vec()))
            }
            MAP_EXT => {
                let n = self.u32()?;
                self.check_count(n, 2)?;
                let mut pairs = Vec::with_capacity(n);
                for _ in 0..n {
                    let k = self.term(depth + 1)?;
                    let v = self.term(depth + 1)?;
                    pairs.push((k, v));
                }
                Ok(Term::Map(pairs))
            }
            // Floats, bitstrings, compressed terms, pids, refs, funs...: not in the protocol.
            NEW_FLOAT_EXT | BIT_BINARY_EXT | COMPRESSED => Err(DecodeError::Unsupported(tag)),
            _ => Err(DecodeError::Unsupported(tag)),
        }
    }

    fn elements(&mut self, n: usize, depth: usize) -> Result<Vec<Term>, DecodeError> {
        self.check_count(n, 1)?;
        let mut items = Vec::with_capacity(n);
        for _ in 0..n {
            items.push(self.term(depth + 1)?);
        }
        Ok(items)
    }

    fn big(&mut self, n: usize) -> Result<Term, DecodeError> {
        let sign = self.u8()?;
        let digits = self.take(n)?;
        // Little-endian base-256 magnitude; anything beyond 16 significant bytes is too big.
        let significant = digits.iter().rposition(|&d| d != 0).map_or(0, |i| i + 1);
        if significant > 16 {
            return Err(DecodeError::BigInteger);
        }
        let mut magnitude: u128 = 0;
        for (i, &d) in digits[..significant].iter().enumerate() {
            magnitude |= (d as u128) << (8 * i);
        }
        let value = match (sign, i128::try_from(magnitude)) {
            (0, Ok(v)) => v,
            (_, Ok(v)) => -v,
            (_, Err(_)) => return Err(DecodeError::BigInteger),
        };
        Ok(Term::Int(value))
    }
}

/// Encodes a term, with the version byte.
pub fn encode(term: &Term) -> Vec<u8> {
    let mut out = vec![VERSION];
    write_term(&mut out, term);
    out
}

fn write_term(out: &mut Vec<u8>, term: &Term) {
    match term {
        Term::Int(v) => write_int(out, *v),
        Term::Atom(name) => {
            // Atoms we send are short protocol names; longer ones use the 16-bit form.
            let bytes = &name.as_bytes()[..name.len().min(u16::MAX as usize)];
            if bytes.len() < 256 {
                out.push(SMALL_ATOM_UTF8_EXT);
                out.push(bytes.len() as u8);
            } else {
                out.push(ATOM_UTF8_EXT);
                out.extend((bytes.len() as u16).to_be_bytes());
            }
            out.extend(bytes);
        }
        Term::Binary(bytes) => {
            out.push(BINARY_EXT);
            out.extend((bytes.len() as u32).to_be_bytes());
            out.extend(bytes);
        }
        Term::Tuple(items) => {
            if items.len() < 256 {
                out.push(SMALL_TUPLE_EXT);
                out.push(items.len() as u8);
            } else {
                out.push(LARGE_TUPLE_EXT);
                out.extend((items.len() as u32).to_be_bytes());
            }
            for item in items {
                write_term(out, item);
            }
        }
        Term::List(items) => {
            if !items.is_empty() {
                out.push(LIST_EXT);
                out.extend((items.len() as u32).to_be_bytes());
                for item in items {
                    write_term(out, item);
                }
            }
            out.push(NIL_EXT);
        }
        Term::Map(pairs) => {
            out.push(MAP_EXT);
            out.extend((pairs.len() as u32).to_be_bytes());
            for (k, v) in pairs {
                write_term(out, k);
                write_term(out, v);
            }
        }
    }
}

fn write_int(out: &mut Vec<u8>, v: i128) {
    if (0..=255).contains(&v) {
        out.push(SMALL_INTEGER_EXT);
        out.push(v as u8);
    } else if let Ok(small) = i32::try_from(v) {
        out.push(INTEGER_EXT);
        out.extend(small.to_be_bytes());
    } else {
        let magnitude = v.unsigned_abs();
        let digits: Vec<u8> = magnitude
            .to_le_bytes()
            .into_iter()
            .take((128 - magnitude.leading_zeros()).div_ceil(8) as usize)
            .collect();
        out.push(SMALL_BIG_EXT);
        out.push(digits.len() as u8);
        out.push(u8::from(v < 0));
        out.extend(digits);
    }
}

/// Shorthand constructors for building events.
pub fn atom(name: &str) -> Term {
    Term::Atom(name.to_owned())
}

pub fn tuple(items: Vec<Term>) -> Term {
    Term::Tuple(items)
}

pub fn int(v: impl Into<i128>) -> Term {
    Term::Int(v.into())
}

impl Term {
    /// The atom's name, if this is an atom.
    pub fn as_atom(&self) -> Option<&str> {
        match self {
            Term::Atom(a) => Some(a),
            _ => None,
        }
    }

    /// The integer, if this is one.
    pub fn as_int(&self) -> Option<i128> {
        match self {
            Term::Int(v) => Some(*v),
            _ => None,
        }
    }

    /// Bytes of a binary, or of a list of integers 0..=255 (`STRING_EXT`, charlists).
    pub fn as_bytes(&self) -> Option<Vec<u8>> {
        match self {
            Term::Binary(b) => Some(b.clone()),
            Term::List(items) => items
                .iter()
                .map(|t| match t {
                    Term::Int(v) => u8::try_from(*v).ok(),
                    _ => None,
                })
                .collect(),
            _ => None,
        }
    }

    /// Looks a key up in a map whose keys are atoms.
    pub fn map_get(&self, key: &str) -> Option<&Term> {
        match self {
            Term::Map(pairs) => pairs
                .iter()
                .find(|(k, _)| k.as_atom() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Bytes below were produced by `:erlang.term_to_binary/1` on OTP 25.
    #[test]
    fn decodes_what_the_beam_writes() {
        // term_to_binary({:signal, 9})
        let bytes = [
            131, 104, 2, 119, 6, b's', b'i', b'g', b'n', b'a', b'l', 97, 9,
        ];
        assert_eq!(decode(&bytes).unwrap(), tuple(vec![atom("signal"), int(9)]));
        // term_to_binary(%{argv: ["/bin/true"]})
        let mut bytes = vec![131, 116, 0, 0, 0, 1, 119, 4];
        bytes.extend(b"argv");
        bytes.extend([108, 0, 0, 0, 1, 109, 0, 0, 0, 9]);
        bytes.extend(b"/bin/true");
        bytes.push(106);
        let term = decode(&bytes).unwrap();
        assert_eq!(
            term.map_get("argv").unwrap(),
            &Term::List(vec![Term::Binary(b"/bin/true".to_vec())])
        );
        // term_to_binary(0xFFFF_FFFF_FFFF_FFFF)
        let bytes = [131, 110, 8, 0, 255, 255, 255, 255, 255, 255, 255, 255];
        assert_eq!(decode(&bytes).unwrap(), int(u64::MAX));
        // term_to_binary(-1)
        assert_eq!(decode(&[131, 98, 255, 255, 255, 255]).unwrap(), int(-1));
        // term_to_binary(~c"ab") and the latin-1 ATOM_EXT form of :ok
        assert_eq!(
            decode(&[131, 107, 0, 2, b'a', b'b']).unwrap().as_bytes(),
            Some(b"ab".to_vec())
        );
        assert_eq!(decode(&[131, 100, 0, 2, b'o', b'k']).unwrap(), atom("ok"));
    }

    #[test]
    fn round_trips_every_encodable_shape() {
        let samples = vec![
            int(0),
            int(255),
            int(256),
            int(-5),
            int(i32::MAX),
            int(i32::MIN),
            int(1i128 << 40),
            int(-(1i128 << 40)),
            int(u64::MAX),
            atom("pty_out"),
            atom(&"a".repeat(300)),
            Term::Binary(vec![]),
            Term::Binary((0..=255).collect()),
            tuple(vec![]),
            tuple((0..300).map(int).collect()),
            Term::List(vec![]),
            Term::List(vec![int(1), atom("x")]),
            Term::Map(vec![(atom("k"), Term::Binary(b"v".to_vec()))]),
        ];
        for t in samples {
            assert_eq!(decode(&encode(&t)).unwrap(), t, "{t:?}");
        }
    }

    #[test]
    fn refuses_garbage_without_panicking() {
        assert_eq!(decode(&[]), Err(DecodeError::Truncated));
        assert_eq!(decode(&[1, 2, 3]), Err(DecodeError::Version));
        assert_eq!(decode(&[131]), Err(DecodeError::Truncated));
        assert_eq!(decode(&[131, 70, 0]), Err(DecodeError::Unsupported(70)));
        assert_eq!(decode(&[131, 80, 0]), Err(DecodeError::Unsupported(80)));
        // A tuple claiming 2^32-1 elements in a 10-byte buffer allocates nothing.
        assert_eq!(
            decode(&[131, 105, 255, 255, 255, 255, 97, 1]),
            Err(DecodeError::Truncated)
        );
        assert_eq!(
            decode(&[131, 108, 0, 0, 0, 1, 97, 1, 97, 2]),
            Err(DecodeError::ImproperList)
        );
        assert_eq!(decode(&[131, 97, 1, 97]), Err(DecodeError::Trailing(1)));
        let mut deep = vec![131];
        deep.extend(std::iter::repeat_n([104, 1], 100).flatten());
        deep.push(106);
        assert_eq!(decode(&deep), Err(DecodeError::TooDeep));
        let mut huge = vec![131, 111, 0, 0, 0, 17, 0];
        huge.extend([1u8; 17]);
        assert_eq!(decode(&huge), Err(DecodeError::BigInteger));
        assert_eq!(
            decode(&[131, 119, 2, 0xff, 0xfe]),
            Err(DecodeError::BadAtom)
        );
    }

    #[test]
    fn no_input_prefix_or_byte_flip_panics() {
        // A deterministic sweep: every prefix and every single-byte corruption of a
        // realistic request must decode or fail cleanly.
        let request = encode(&tuple(vec![
            atom("spawn"),
            Term::Map(vec![
                (
                    atom("argv"),
                    Term::List(vec![Term::Binary(b"/bin/sh".to_vec())]),
                ),
                (
                    atom("namespaces"),
                    Term::List(vec![atom("net"), atom("pid")]),
                ),
                (atom("stdio"), atom("pty")),
            ]),
        ]));
        for len in 0..=request.len() {
            let _ = decode(&request[..len]);
        }
        for i in 0..request.len() {
            for v in [0u8, 1, 97, 104, 105, 108, 111, 116, 255] {
                let mut corrupt = request.clone();
                corrupt[i] = v;
                let _ = decode(&corrupt);
            }
        }
    }
}
