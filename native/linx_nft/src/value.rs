//! A small model of Erlang terms, so the codec is pure Rust: the NIF layer converts
//! `Term` <-> `Value` in one place (`nif.rs`) and everything else is testable with
//! `cargo test`, without a VM.
//!
//! Atoms produced by the decoder are always `Cow::Borrowed` names from the static
//! tables in `consts.rs`/`schema.rs`: kernel input can never mint new atoms.

use std::borrow::Cow;

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Nil,
    Bool(bool),
    Int(i128),
    Atom(Cow<'static, str>),
    Bin(Vec<u8>),
    List(Vec<Value>),
    Tuple(Vec<Value>),
    Map(Vec<(Value, Value)>),
}

impl Value {
    pub fn atom(name: &'static str) -> Value {
        Value::Atom(Cow::Borrowed(name))
    }

    pub fn int<T: Into<i128>>(n: T) -> Value {
        Value::Int(n.into())
    }

    pub fn bin(bytes: &[u8]) -> Value {
        Value::Bin(bytes.to_vec())
    }

    /// A string as an Elixir binary.
    pub fn str(s: &str) -> Value {
        Value::Bin(s.as_bytes().to_vec())
    }

    pub fn as_atom(&self) -> Option<&str> {
        match self {
            Value::Atom(a) => Some(a),
            _ => None,
        }
    }

    pub fn as_int(&self) -> Option<i128> {
        match self {
            Value::Int(n) => Some(*n),
            _ => None,
        }
    }

    pub fn as_bin(&self) -> Option<&[u8]> {
        match self {
            Value::Bin(b) => Some(b),
            _ => None,
        }
    }

    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }

    pub fn is_nil(&self) -> bool {
        matches!(self, Value::Nil)
    }

    /// Looks up an atom key in a map value.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Map(pairs) => pairs
                .iter()
                .find(|(k, _)| k.as_atom() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// Like `get`, but a `nil` value counts as absent (Elixir structs carry nil fields).
    pub fn get_some(&self, key: &str) -> Option<&Value> {
        self.get(key).filter(|v| !v.is_nil())
    }
}

/// Builds a map with atom keys, in insertion order.
#[derive(Default)]
pub struct MapBuilder(Vec<(Value, Value)>);

impl MapBuilder {
    pub fn new() -> Self {
        MapBuilder(Vec::new())
    }

    pub fn put(&mut self, key: &'static str, value: Value) -> &mut Self {
        // A repeated attribute (a hostile or buggy message) keeps the last value, as the
        // kernel's own nla_parse does.
        if let Some(slot) = self.0.iter_mut().find(|(k, _)| k.as_atom() == Some(key)) {
            slot.1 = value;
        } else {
            self.0.push((Value::atom(key), value));
        }
        self
    }

    pub fn has(&self, key: &str) -> bool {
        self.0.iter().any(|(k, _)| k.as_atom() == Some(key))
    }

    pub fn build(self) -> Value {
        Value::Map(self.0)
    }
}
