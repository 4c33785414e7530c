use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;

use super::*;

fn shape<V: DeserializeOwned>() -> String {
    value_shape::<V>()
}

#[derive(Deserialize)]
#[expect(dead_code, reason = "only its shape is used")]
struct User {
    id: u64,
    name: String,
    tags: Vec<String>,
}

mod elsewhere {
    #[derive(serde::Deserialize)]
    #[expect(dead_code, reason = "only its shape is used")]
    pub(super) struct Person {
        pub(super) id: u64,
        pub(super) name: String,
        pub(super) tags: Vec<String>,
    }
}

#[derive(Deserialize)]
#[expect(dead_code, reason = "only its shape is used")]
struct UserWithAge {
    id: u64,
    name: String,
    tags: Vec<String>,
    age: u8,
}

#[derive(Deserialize)]
#[expect(dead_code, reason = "only its shape is used")]
struct Renamed {
    id: u64,
    full_name: String,
    tags: Vec<String>,
}

#[derive(Deserialize)]
#[expect(dead_code, reason = "only its shape is used")]
enum State {
    Queued,
    Running { token: u64 },
    Done(String),
}

#[derive(Deserialize)]
#[expect(dead_code, reason = "only its shape is used")]
enum StateChanged {
    Queued,
    Running { token: u64 },
    Done(u64),
}

#[derive(Deserialize)]
#[expect(dead_code, reason = "only its shape is used")]
struct Meters(u64);

#[derive(Deserialize)]
#[expect(dead_code, reason = "only its shape is used")]
struct Tree {
    children: Vec<Tree>,
    parent: Option<Box<Tree>>,
}

#[derive(Deserialize)]
#[expect(dead_code, reason = "only its shape is used")]
enum List {
    Cons(u64, Box<List>),
    Nil,
}

#[test]
fn primitives_that_bincode_confuses_have_different_shapes() {
    assert_ne!(shape::<u64>(), shape::<String>());
    assert_ne!(shape::<i64>(), shape::<u64>());
    assert_ne!(shape::<u32>(), shape::<u64>());
    assert_eq!(shape::<String>(), "str");
}

#[test]
fn renaming_or_moving_a_type_keeps_its_shape_and_changing_a_field_does_not() {
    assert_eq!(shape::<User>(), shape::<elsewhere::Person>());
    assert_eq!(shape::<User>(), "{id: u64, name: str, tags: seq<str>}");
    assert_ne!(shape::<User>(), shape::<UserWithAge>());
    assert_ne!(shape::<User>(), shape::<Renamed>());
    assert_eq!(shape::<Meters>(), shape::<u64>(), "newtypes are transparent");
}

#[test]
fn every_variant_of_an_enum_is_part_of_its_shape() {
    let state = shape::<State>();
    assert!(
        state.contains("Queued") && state.contains("token: u64") && state.contains("(str)"),
        "{state}"
    );
    assert_ne!(state, shape::<StateChanged>(), "a change in the last variant is seen");
    // Nested in containers, each occurrence explores its own variants.
    let nested = shape::<(Option<State>, Vec<State>)>();
    assert_eq!(nested.matches("(str)").count(), 2, "{nested}");
}

#[test]
fn maps_options_and_recursive_types_have_finite_shapes() {
    assert_eq!(shape::<HashMap<String, u64>>(), shape::<BTreeMap<String, u64>>());
    assert_eq!(shape::<Option<Vec<u8>>>(), "option<seq<u8>>");
    let tree = shape::<Tree>();
    assert!(tree.len() < 200, "{tree}");
    let list = shape::<List>();
    assert!(list.contains("Nil"), "{list}");
    assert_eq!(list, shape::<List>(), "deterministic");
}

#[test]
fn schemas_round_trip_through_bytes() {
    let schema = Schema::of::<(String, u64), User>();
    assert_eq!(&*schema.key, "(str, u64)");
    assert_eq!(Schema::from_bytes(&schema.to_bytes()), Some(schema));
}
