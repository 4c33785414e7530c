//! Names of generated items: handler method name → variant name, actor type → enum and handle.

use proc_macro2::Ident;
use quote::format_ident;

/// `add_item` → `AddItem`; `r#type` → `Type`. Keeps the method's span, so errors about the
/// variant point at the method.
pub(crate) fn variant(method: &Ident) -> Ident {
    let name = bare_name(method);
    let mut out = String::with_capacity(name.len());
    let mut upper = true;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    Ident::new(&out, method.span())
}

/// `add_item` → `"add_item"`; `r#type` → `"type"`: a method's name without the raw prefix,
/// which is also a handler's message tag on the wire (`#[actor(remote)]`).
pub(crate) fn bare_name(method: &Ident) -> String {
    let name = method.to_string();
    name.strip_prefix("r#").map_or_else(|| name.clone(), str::to_owned)
}

/// `Counter` → `CounterMessage`.
pub(crate) fn message_enum(actor: &Ident) -> Ident {
    format_ident!("{}Message", actor)
}

/// `Counter` → `CounterRemote`, the remote handle of `#[actor(remote)]`.
pub(crate) fn remote(actor: &Ident) -> Ident {
    format_ident!("{}Remote", actor)
}

/// `Counter` → `CounterHandle`.
pub(crate) fn handle(actor: &Ident) -> Ident {
    format_ident!("{}Handle", actor)
}

/// Methods of the generated handle, and the associated functions generated on the actor type:
/// a handler may not take one of these names.
pub(crate) const RESERVED: &[&str] = &[
    "tell",
    "try_tell",
    "with_timeout",
    "actor_ref",
    "from_ref",
    "stop",
    "kill",
    "stopped",
    "shutdown",
    "is_alive",
    "lookup",
    "downgrade",
    "spawn",
    "spawn_with",
    "start",
    "start_with",
];

/// The associated functions generated on the actor type itself: not even a skipped helper may
/// take one of these names.
pub(crate) const ON_ACTOR: &[&str] = &["spawn", "spawn_with", "start", "start_with"];

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: &str) {
        let ident = Ident::new_raw(input, proc_macro2::Span::call_site());
        let ident =
            if input == "type" { ident } else { Ident::new(input, proc_macro2::Span::call_site()) };
        assert_eq!(variant(&ident).to_string(), expected);
    }

    #[test]
    fn variants_are_pascal_case() {
        check("add", "Add");
        check("add_item", "AddItem");
        check("add__item_", "AddItem");
        check("get2_x", "Get2X");
        check("type", "Type");
    }
}
