//! Encodings: order-preserving keys ([`Key`]) and versioned, checksummed values.
//!
//! # Keys
//!
//! A key is encoded so that the byte order of encodings is the order of the keys: integers
//! big-endian (signed ones with the sign bit flipped), strings and byte vectors with `0x00`
//! escaped as `0x00 0xff` and terminated by `0x00 0x01`, tuples as the concatenation of their
//! elements. Range scans over a [`Tree`](crate::Tree) therefore visit keys in their natural
//! order, and a tuple's leading elements work as a prefix.
//!
//! # Values
//!
//! A value is stored as a one-byte encoding version ([`VALUE_VERSION`]), a CRC-32 of the key
//! and the payload, and the payload: the value encoded by `bincode` 2 (standard configuration)
//! through `serde`. The checksum covers the key, so a value found under the wrong key is
//! reported as corrupt, like a damaged one. A later release that changes the encoding bumps the
//! version and keeps reading the old one.

use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Corruption, StoreError, printable};

/// The encoding version written in front of every value by this release.
pub const VALUE_VERSION: u8 = 1;

const HEADER: usize = 5;

/// A type usable as a key of a [`Tree`](crate::Tree): encoded so that byte order is key order.
///
/// Implemented for the integers, `bool`, `char`, `String`, `Vec<u8>`, `()` and tuples of up to
/// four keys. Implement it for your own key types by delegating to these.
pub trait Key: Sized {
    /// Appends this key's encoding to `out`.
    fn encode_key(&self, out: &mut Vec<u8>);

    /// Decodes a key from the front of `input` and advances `input` past it.
    ///
    /// # Errors
    ///
    /// A message saying what is malformed.
    fn decode_key(input: &mut &[u8]) -> Result<Self, String>;

    /// The shape of this key's encoding, recorded with a tree's [`Schema`](crate::Schema):
    /// `u64`, `str`, `(u64, str)`... The default is the type's name without its module path;
    /// a key type that delegates to another should return that one's schema.
    fn schema() -> String {
        let full = std::any::type_name::<Self>();
        let end = full.find('<').unwrap_or(full.len());
        full[..end].rsplit("::").next().unwrap_or(full).to_owned() + &full[end..]
    }
}

fn take<'a>(input: &mut &'a [u8], n: usize) -> Result<&'a [u8], String> {
    if input.len() < n {
        return Err(format!("expected {n} more bytes, found {}", input.len()));
    }
    let (head, tail) = input.split_at(n);
    *input = tail;
    Ok(head)
}

macro_rules! unsigned_key {
    ($($t:ty),*) => {$(
        impl Key for $t {
            fn encode_key(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_be_bytes());
            }
            fn schema() -> String {
                stringify!($t).to_owned()
            }
            fn decode_key(input: &mut &[u8]) -> Result<Self, String> {
                let bytes = take(input, size_of::<$t>())?;
                let mut buf = [0u8; size_of::<$t>()];
                buf.copy_from_slice(bytes);
                Ok(<$t>::from_be_bytes(buf))
            }
        }
    )*};
}
unsigned_key!(u8, u16, u32, u64, u128);

macro_rules! signed_key {
    ($($t:ty => $u:ty),*) => {$(
        impl Key for $t {
            fn schema() -> String {
                stringify!($t).to_owned()
            }
            fn encode_key(&self, out: &mut Vec<u8>) {
                // Flipping the sign bit maps MIN..=MAX onto 0..=MAX of the unsigned type.
                let flipped = (*self as $u) ^ (1 << (<$u>::BITS - 1));
                out.extend_from_slice(&flipped.to_be_bytes());
            }
            fn decode_key(input: &mut &[u8]) -> Result<Self, String> {
                let flipped = <$u>::decode_key(input)?;
                Ok((flipped ^ (1 << (<$u>::BITS - 1))) as $t)
            }
        }
    )*};
}
signed_key!(i8 => u8, i16 => u16, i32 => u32, i64 => u64, i128 => u128);

impl Key for bool {
    fn schema() -> String {
        "bool".to_owned()
    }
    fn encode_key(&self, out: &mut Vec<u8>) {
        out.push(u8::from(*self));
    }
    fn decode_key(input: &mut &[u8]) -> Result<Self, String> {
        match take(input, 1)?[0] {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(format!("invalid bool byte {other}")),
        }
    }
}

impl Key for char {
    fn schema() -> String {
        "char".to_owned()
    }
    fn encode_key(&self, out: &mut Vec<u8>) {
        u32::from(*self).encode_key(out);
    }
    fn decode_key(input: &mut &[u8]) -> Result<Self, String> {
        let code = u32::decode_key(input)?;
        char::from_u32(code).ok_or_else(|| format!("invalid char {code:#x}"))
    }
}

impl Key for () {
    fn schema() -> String {
        "()".to_owned()
    }
    fn encode_key(&self, _out: &mut Vec<u8>) {}
    fn decode_key(_input: &mut &[u8]) -> Result<Self, String> {
        Ok(())
    }
}

/// Escapes `0x00` and terminates, so that a shorter string sorts first and a string can be
/// followed by more key parts.
fn encode_bytes(bytes: &[u8], out: &mut Vec<u8>) {
    out.reserve(bytes.len() + 2);
    for &b in bytes {
        out.push(b);
        if b == 0 {
            out.push(0xff);
        }
    }
    out.extend_from_slice(&[0, 1]);
}

fn decode_bytes(input: &mut &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        match input.get(i..i + 2) {
            _ if input.get(i).is_some_and(|&b| b != 0) => {
                out.push(input[i]);
                i += 1;
            }
            Some([0, 0xff]) => {
                out.push(0);
                i += 2;
            }
            Some([0, 1]) => {
                *input = &input[i + 2..];
                return Ok(out);
            }
            Some(_) => return Err("invalid escape in a string key".to_owned()),
            None => return Err("unterminated string key".to_owned()),
        }
    }
}

impl Key for Vec<u8> {
    fn schema() -> String {
        "bytes".to_owned()
    }
    fn encode_key(&self, out: &mut Vec<u8>) {
        encode_bytes(self, out);
    }
    fn decode_key(input: &mut &[u8]) -> Result<Self, String> {
        decode_bytes(input)
    }
}

impl Key for String {
    fn schema() -> String {
        "str".to_owned()
    }
    fn encode_key(&self, out: &mut Vec<u8>) {
        encode_bytes(self.as_bytes(), out);
    }
    fn decode_key(input: &mut &[u8]) -> Result<Self, String> {
        String::from_utf8(decode_bytes(input)?).map_err(|e| e.to_string())
    }
}

macro_rules! tuple_key {
    ($($name:ident),+) => {
        impl<$($name: Key),+> Key for ($($name,)+) {
            #[expect(non_snake_case, reason = "the tuple's type parameters name its elements")]
            fn encode_key(&self, out: &mut Vec<u8>) {
                let ($($name,)+) = self;
                $($name.encode_key(out);)+
            }
            fn decode_key(input: &mut &[u8]) -> Result<Self, String> {
                Ok(($($name::decode_key(input)?,)+))
            }
            fn schema() -> String {
                let parts: Vec<String> = vec![$($name::schema()),+];
                format!("({})", parts.join(", "))
            }
        }
    };
}
tuple_key!(A);
tuple_key!(A, B);
tuple_key!(A, B, C);
tuple_key!(A, B, C, D);

/// The encoding of `key`.
pub(crate) fn key_bytes<K: Key>(key: &K) -> Vec<u8> {
    let mut out = Vec::with_capacity(16);
    key.encode_key(&mut out);
    out
}

/// Decodes a whole key: trailing bytes are an error.
pub(crate) fn decode_whole_key<K: Key>(tree: &Arc<str>, bytes: &[u8]) -> Result<K, StoreError> {
    let mut input = bytes;
    let corrupt = |reason: String| StoreError::Corrupt {
        tree: Arc::clone(tree),
        key: printable(bytes),
        kind: Corruption::Key(Arc::from(reason)),
    };
    let key = K::decode_key(&mut input).map_err(corrupt)?;
    if input.is_empty() { Ok(key) } else { Err(corrupt(format!("{} trailing bytes", input.len()))) }
}

fn checksum(key: &[u8], payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(key);
    hasher.update(payload);
    hasher.finalize()
}

/// Encodes `value` to be stored under the encoded `key`.
pub(crate) fn encode_value<V: Serialize + ?Sized>(
    tree: &Arc<str>,
    key: &[u8],
    value: &V,
) -> Result<Vec<u8>, StoreError> {
    let mut out = vec![VALUE_VERSION, 0, 0, 0, 0];
    bincode::serde::encode_into_std_write(value, &mut out, bincode::config::standard())
        .map_err(|e| StoreError::Encode { tree: Arc::clone(tree), source: Arc::new(e) })?;
    let crc = checksum(key, &out[HEADER..]);
    out[1..HEADER].copy_from_slice(&crc.to_le_bytes());
    Ok(out)
}

/// Checks and decodes a stored value.
pub(crate) fn decode_value<V: DeserializeOwned>(
    tree: &Arc<str>,
    key: &[u8],
    stored: &[u8],
) -> Result<V, StoreError> {
    let corrupt = |kind| StoreError::Corrupt { tree: Arc::clone(tree), key: printable(key), kind };
    if stored.len() < HEADER {
        return Err(corrupt(Corruption::Truncated));
    }
    if stored[0] != VALUE_VERSION {
        return Err(corrupt(Corruption::UnknownVersion(stored[0])));
    }
    let mut crc = [0u8; 4];
    crc.copy_from_slice(&stored[1..HEADER]);
    let payload = &stored[HEADER..];
    if u32::from_le_bytes(crc) != checksum(key, payload) {
        return Err(corrupt(Corruption::Checksum));
    }
    match bincode::serde::decode_from_slice(payload, bincode::config::standard()) {
        Ok((value, read)) if read == payload.len() => Ok(value),
        Ok((_, read)) => Err(corrupt(Corruption::Decode(Arc::from(format!(
            "{} trailing bytes",
            payload.len() - read
        ))))),
        Err(e) => Err(corrupt(Corruption::Decode(Arc::from(e.to_string())))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order<K: Key + Ord + std::fmt::Debug + Clone>(mut keys: Vec<K>) {
        keys.sort();
        let encoded: Vec<Vec<u8>> = keys.iter().map(key_bytes).collect();
        let mut sorted = encoded.clone();
        sorted.sort();
        assert_eq!(encoded, sorted, "byte order differs from key order for {keys:?}");
        for (key, bytes) in keys.iter().zip(&encoded) {
            let tree: Arc<str> = Arc::from("t");
            assert_eq!(&decode_whole_key::<K>(&tree, bytes).unwrap(), key);
        }
    }

    #[test]
    fn keys_sort_like_their_values() {
        order(vec![i64::MIN, -300, -1, 0, 1, 255, 256, i64::MAX]);
        order(vec![0u32, 1, 255, 256, 65_536, u32::MAX]);
        order(vec![
            String::new(),
            "\0".to_owned(),
            "\0\0".to_owned(),
            "\0a".to_owned(),
            "a".to_owned(),
            "a\0".to_owned(),
            "ab".to_owned(),
            "b".to_owned(),
        ]);
        order(vec![
            ("a".to_owned(), 2u64),
            ("a".to_owned(), 10),
            ("a\0".to_owned(), 0),
            ("ab".to_owned(), 0),
            ("b".to_owned(), 1),
        ]);
        order(vec![(false, -1i8, 'a'), (false, 3, 'b'), (true, -128, 'z')]);
    }

    #[test]
    fn damaged_values_are_reported_never_decoded() {
        let tree: Arc<str> = Arc::from("t");
        let stored = encode_value(&tree, b"k", &12_345u64).unwrap();
        assert_eq!(decode_value::<u64>(&tree, b"k", &stored).unwrap(), 12_345);
        for i in 0..stored.len() {
            for bit in 0..8 {
                let mut damaged = stored.clone();
                damaged[i] ^= 1 << bit;
                let err = decode_value::<u64>(&tree, b"k", &damaged).unwrap_err();
                assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
            }
        }
        let moved = decode_value::<u64>(&tree, b"other", &stored).unwrap_err();
        assert!(moved.to_string().contains("checksum mismatch"), "{moved}");
        assert!(matches!(
            decode_value::<u64>(&tree, b"k", &stored[..3]),
            Err(StoreError::Corrupt { kind: Corruption::Truncated, .. })
        ));
        let wrong_type = decode_value::<(u64, u64)>(&tree, b"k", &stored).unwrap_err();
        assert!(matches!(wrong_type, StoreError::Corrupt { kind: Corruption::Decode(_), .. }));
    }
}
