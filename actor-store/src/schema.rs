//! Tree schemas: what a tree's keys and values look like on disk, recorded when the tree is
//! created and checked every time it is opened.
//!
//! A value's schema is the *shape of its encoding*, found by walking its serde `Deserialize`
//! implementation: the primitive types in order, field names, sequences, maps, options and every
//! variant of every enum. Two types with the same shape read each other's bytes correctly;
//! two types with different shapes do not, even where bincode would happily decode one as the
//! other (a `u64` read as a `String`, an `i64` as a `u64`). Renaming a type or moving it to
//! another module keeps its shape; adding, removing, reordering or retyping a field or a
//! variant changes it. Newtype structs are transparent, as in the encoding.
//!
//! A key's schema comes from [`Key::schema`]: the integer width and signedness, `str`,
//! `bytes`, tuples of those.
//!
//! The walk feeds each `Deserialize` implementation the simplest value of every primitive
//! (`0`, `""`, `false`), one element for each sequence and map, and tries every enum variant in
//! turn. A type whose `Deserialize` rejects those values (a non-zero integer type, say) gets the
//! shape of the part walked before the refusal: still the same for the same type, so the check
//! holds, but it tells fewer changes apart.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, Visitor};

use crate::codec::Key;

/// The recorded shape of a tree's keys and values; see the [module docs](self).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Schema {
    /// The key's shape, as [`Key::schema`] gives it.
    pub key: Arc<str>,
    /// The value's shape.
    pub value: Arc<str>,
}

impl Schema {
    /// The schema of a tree with keys `K` and values `V`.
    pub fn of<K: Key, V: DeserializeOwned>() -> Schema {
        Schema { key: Arc::from(K::schema()), value: Arc::from(value_shape::<V>()) }
    }

    /// Encodes for the store's meta tree: key shape, a NUL, value shape.
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.key.len() + 1 + self.value.len());
        out.extend_from_slice(self.key.as_bytes());
        out.push(0);
        out.extend_from_slice(self.value.as_bytes());
        out
    }

    pub(crate) fn from_bytes(bytes: &[u8]) -> Option<Schema> {
        let split = bytes.iter().position(|&b| b == 0)?;
        let key = std::str::from_utf8(&bytes[..split]).ok()?;
        let value = std::str::from_utf8(&bytes[split + 1..]).ok()?;
        Some(Schema { key: Arc::from(key), value: Arc::from(value) })
    }
}

impl fmt::Display for Schema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The first walk is the readable part; the others only add enum variants.
        let value = self.value.split(" | ").next().unwrap_or(&self.value);
        let value = if value.len() > 160 {
            let mut end = 160;
            while !value.is_char_boundary(end) {
                end -= 1;
            }
            format!("{}...", &value[..end])
        } else {
            value.to_owned()
        };
        write!(f, "keys `{}` and values `{value}`", self.key)
    }
}

/// The shape of `V`'s encoding: every walk of its `Deserialize`, deduplicated, in order.
fn value_shape<V: DeserializeOwned>() -> String {
    let mut explored: HashMap<String, Vec<bool>> = HashMap::new();
    let mut walks: Vec<String> = Vec::new();
    for _ in 0..MAX_WALKS {
        let mut walk = Walk {
            out: String::new(),
            path: String::new(),
            explored: &mut explored,
            new: false,
            depth: 0,
            containers: Vec::new(),
        };
        if V::deserialize(Tracer { walk: &mut walk }).is_err() {
            walk.out.push('!');
        }
        let new = walk.new;
        if !walks.contains(&walk.out) {
            walks.push(walk.out);
        }
        if !new {
            break;
        }
    }
    walks.join(" | ")
}

/// At most this many walks: enough for every variant of enums of up to this many variants.
const MAX_WALKS: usize = 256;
/// Deeper than this, a walk gives up (a type that recurses through an enum).
const MAX_DEPTH: usize = 48;

/// One walk of a type's `Deserialize`.
struct Walk<'a> {
    out: String,
    /// Where the walk is, so that each enum occurrence explores its variants on its own.
    path: String,
    /// Per enum occurrence (by path), which variants have been walked.
    explored: &'a mut HashMap<String, Vec<bool>>,
    /// Whether this walk chose a variant not walked before.
    new: bool,
    depth: usize,
    /// Names of the structs and enums being walked, to stop at recursion.
    containers: Vec<&'static str>,
}

impl Walk<'_> {
    fn recursive(&self, name: &'static str) -> bool {
        self.containers.contains(&name)
    }

    /// Whether a sequence, map or option here should stay empty: the walk is too deep, or
    /// inside a container that contains itself.
    fn recursing(&self) -> bool {
        self.depth >= MAX_DEPTH
            || self
                .containers
                .iter()
                .enumerate()
                .any(|(i, name)| self.containers[..i].contains(name))
    }
}

#[derive(Debug)]
struct TraceError(String);

impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TraceError {}

impl de::Error for TraceError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        TraceError(msg.to_string())
    }
}

struct Tracer<'w, 'a> {
    walk: &'w mut Walk<'a>,
}

macro_rules! primitive {
    ($($method:ident $name:literal $visit:ident $value:expr;)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TraceError> {
            self.walk.out.push_str($name);
            visitor.$visit($value)
        }
    )*};
}

impl<'de> de::Deserializer<'de> for Tracer<'_, '_> {
    type Error = TraceError;

    primitive! {
        deserialize_bool "bool" visit_bool false;
        deserialize_i8 "i8" visit_i8 0;
        deserialize_i16 "i16" visit_i16 0;
        deserialize_i32 "i32" visit_i32 0;
        deserialize_i64 "i64" visit_i64 0;
        deserialize_i128 "i128" visit_i128 0;
        deserialize_u8 "u8" visit_u8 0;
        deserialize_u16 "u16" visit_u16 0;
        deserialize_u32 "u32" visit_u32 0;
        deserialize_u64 "u64" visit_u64 0;
        deserialize_u128 "u128" visit_u128 0;
        deserialize_f32 "f32" visit_f32 0.0;
        deserialize_f64 "f64" visit_f64 0.0;
        deserialize_char "char" visit_char 'a';
        deserialize_str "str" visit_str "";
        deserialize_string "str" visit_str "";
        deserialize_bytes "bytes" visit_bytes &[];
        deserialize_byte_buf "bytes" visit_bytes &[];
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TraceError> {
        self.walk.out.push_str("()");
        visitor.visit_unit()
    }

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TraceError> {
        // Only self-describing formats can serve this; bincode cannot.
        self.walk.out.push_str("any");
        visitor.visit_unit()
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TraceError> {
        self.walk.out.push_str("any");
        visitor.visit_unit()
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TraceError> {
        visitor.visit_u32(0)
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, TraceError> {
        self.walk.out.push_str("()");
        visitor.visit_unit()
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, TraceError> {
        // Transparent, as in the encoding.
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TraceError> {
        self.walk.out.push_str("option<");
        let value = if self.walk.recursing() {
            self.walk.out.push_str("..");
            visitor.visit_none()
        } else {
            visitor.visit_some(Tracer { walk: &mut *self.walk })
        };
        self.walk.out.push('>');
        value
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TraceError> {
        self.walk.out.push_str("seq<");
        let value = visitor.visit_seq(Elements::one(self.walk))?;
        self.walk.out.push('>');
        Ok(value)
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, TraceError> {
        self.walk.out.push('(');
        let value = visitor.visit_seq(Elements::fixed(self.walk, len, &[]))?;
        self.walk.out.push(')');
        Ok(value)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, TraceError> {
        self.deserialize_tuple(len, visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TraceError> {
        self.walk.out.push_str("map<");
        let value = visitor.visit_map(Entries { walk: self.walk, left: 1 })?;
        self.walk.out.push('>');
        Ok(value)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, TraceError> {
        if self.walk.depth >= MAX_DEPTH {
            return Err(TraceError(format!("`{name}` nests too deeply")));
        }
        self.walk.out.push('{');
        self.walk.containers.push(name);
        let value = visitor.visit_seq(Elements::fixed(self.walk, fields.len(), fields));
        self.walk.containers.pop();
        self.walk.out.push('}');
        value
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, TraceError> {
        let walk = self.walk;
        if walk.depth >= MAX_DEPTH || variants.is_empty() {
            return Err(TraceError(format!("`{name}` nests too deeply")));
        }
        // Each occurrence explores its variants on its own: the first one not walked yet.
        let recursive = walk.recursive(name);
        let seen =
            walk.explored.entry(walk.path.clone()).or_insert_with(|| vec![false; variants.len()]);
        let choice = match seen.iter().position(|walked| !walked) {
            Some(index) if !recursive || index == 0 => {
                seen[index] = true;
                walk.new = true;
                index
            }
            _ => 0,
        };
        walk.out.push_str("enum[");
        walk.out.push_str(&variants.join(","));
        walk.out.push_str("]:");
        walk.out.push_str(variants[choice]);
        walk.containers.push(name);
        let value = visitor.visit_enum(Variant { walk: &mut *walk, index: choice });
        walk.containers.pop();
        value
    }

    fn is_human_readable(&self) -> bool {
        false
    }
}

/// The elements of a sequence, tuple or struct.
struct Elements<'w, 'a> {
    walk: &'w mut Walk<'a>,
    left: usize,
    fields: &'static [&'static str],
    index: usize,
}

impl<'w, 'a> Elements<'w, 'a> {
    fn one(walk: &'w mut Walk<'a>) -> Self {
        // A sequence of a recursive type yields nothing once it has recursed.
        let left = usize::from(!walk.recursing());
        Elements { walk, left, fields: &[], index: 0 }
    }

    fn fixed(walk: &'w mut Walk<'a>, len: usize, fields: &'static [&'static str]) -> Self {
        Elements { walk, left: len, fields, index: 0 }
    }
}

impl<'de> de::SeqAccess<'de> for Elements<'_, '_> {
    type Error = TraceError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, TraceError> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        if self.index > 0 {
            self.walk.out.push_str(", ");
        }
        if let Some(field) = self.fields.get(self.index) {
            self.walk.out.push_str(field);
            self.walk.out.push_str(": ");
        }
        let mark = self.walk.path.len();
        self.walk.path.push_str(&format!(".{}", self.index));
        self.index += 1;
        self.walk.depth += 1;
        let value = seed.deserialize(Tracer { walk: &mut *self.walk });
        self.walk.depth -= 1;
        self.walk.path.truncate(mark);
        value.map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.left)
    }
}

/// One entry of a map.
struct Entries<'w, 'a> {
    walk: &'w mut Walk<'a>,
    left: usize,
}

impl<'de> de::MapAccess<'de> for Entries<'_, '_> {
    type Error = TraceError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, TraceError> {
        if self.left == 0 || self.walk.recursing() {
            return Ok(None);
        }
        self.left -= 1;
        self.nested(".k", seed).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, TraceError> {
        self.walk.out.push_str(", ");
        self.nested(".v", seed)
    }
}

impl Entries<'_, '_> {
    fn nested<'de, S: DeserializeSeed<'de>>(
        &mut self,
        step: &str,
        seed: S,
    ) -> Result<S::Value, TraceError> {
        let mark = self.walk.path.len();
        self.walk.path.push_str(step);
        self.walk.depth += 1;
        let value = seed.deserialize(Tracer { walk: &mut *self.walk });
        self.walk.depth -= 1;
        self.walk.path.truncate(mark);
        value
    }
}

/// The chosen variant of an enum.
struct Variant<'w, 'a> {
    walk: &'w mut Walk<'a>,
    index: usize,
}

impl<'de, 'w, 'a> de::EnumAccess<'de> for Variant<'w, 'a> {
    type Error = TraceError;
    type Variant = Self;

    fn variant_seed<S: DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<(S::Value, Self), TraceError> {
        let index = u32::try_from(self.index).unwrap_or(u32::MAX);
        let value = seed.deserialize(index.into_deserializer())?;
        Ok((value, self))
    }
}

impl<'de> de::VariantAccess<'de> for Variant<'_, '_> {
    type Error = TraceError;

    fn unit_variant(self) -> Result<(), TraceError> {
        Ok(())
    }

    fn newtype_variant_seed<S: DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<S::Value, TraceError> {
        self.walk.out.push('(');
        let mark = self.walk.path.len();
        self.walk.path.push_str(&format!(":{}", self.index));
        self.walk.depth += 1;
        let value = seed.deserialize(Tracer { walk: &mut *self.walk });
        self.walk.depth -= 1;
        self.walk.path.truncate(mark);
        self.walk.out.push(')');
        value
    }

    fn tuple_variant<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, TraceError> {
        self.fields(len, &[], visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, TraceError> {
        self.fields(fields.len(), fields, visitor)
    }
}

impl Variant<'_, '_> {
    fn fields<'de, V: Visitor<'de>>(
        self,
        len: usize,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, TraceError> {
        self.walk.out.push('(');
        let mark = self.walk.path.len();
        self.walk.path.push_str(&format!(":{}", self.index));
        let value = visitor.visit_seq(Elements::fixed(&mut *self.walk, len, fields));
        self.walk.path.truncate(mark);
        self.walk.out.push(')');
        value
    }
}

#[cfg(test)]
mod tests;
