//! Cross-item rules: the handlers of one impl block must not collide with each other or with
//! generated items, and there must be at least one.

use std::collections::HashMap;

use crate::ast::ActorImpl;
use crate::naming;

pub(crate) fn check(actor: &ActorImpl<'_>, errors: &mut Vec<syn::Error>) {
    if actor.handlers.is_empty() && actor.hooks.is_empty() && errors.is_empty() {
        errors.push(syn::Error::new_spanned(
            &actor.item.self_ty,
            "`#[actor]` found no handler: give the impl block a method taking `&self` or `&mut self`",
        ));
    }
    for skipped in &actor.skipped {
        if naming::ON_ACTOR.contains(&skipped.to_string().as_str()) {
            errors.push(syn::Error::new_spanned(
                skipped,
                format!(
                    "`{skipped}` is generated on the actor type by `#[actor]`; rename this helper"
                ),
            ));
        }
    }
    let mut variants: HashMap<String, &syn::Ident> = HashMap::new();
    for handler in &actor.handlers {
        let name = &handler.method.sig.ident;
        if naming::RESERVED.contains(&name.to_string().as_str()) {
            errors.push(syn::Error::new_spanned(
                name,
                format!("`{name}` is the name of a generated method; rename this handler or mark it `#[actor(skip)]`"),
            ));
        }
        match variants.get(&handler.variant.to_string()) {
            Some(first) => errors.push(syn::Error::new_spanned(
                name,
                format!(
                    "`{first}` and `{name}` both become the message variant `{}`; rename one of them",
                    handler.variant
                ),
            )),
            None => {
                variants.insert(handler.variant.to_string(), name);
            }
        }
    }
}
