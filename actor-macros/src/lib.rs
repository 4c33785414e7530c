//! The `#[actor]` attribute of actor-core: an `impl` block becomes a message enum, an `Actor`
//! implementation and a typed handle with one async method per handler.
//!
//! Use it through `actor_core::actor`; this crate is an implementation detail of that re-export,
//! and its generated code names only `::actor_core::__private`.
//!
//! The crate follows thiserror's split: [`actor`] converts tokens and calls `expand`, which
//! parses (`ast.rs`), checks (`validate.rs`) and generates (`expand.rs`), or on errors emits the
//! input plus spanned errors and empty shells of the generated types (`fallback.rs`).
//!
//! # What is generated
//!
//! This expansion is the committed golden file `tests/expand/counter.expanded.rs` (checked by
//! `cargo xtask codegen --check`), so it cannot go stale:
//!
//! ```rust,ignore
#![doc = include_str!("../tests/expand/counter.expanded.rs")]
//! ```

mod ast;
mod attr;
mod expand;
mod fallback;
mod hooks;
mod naming;
mod validate;

#[cfg(test)]
mod golden;

use proc_macro::TokenStream;

/// Turns an inherent `impl` block into an actor: see the crate docs of `actor-core`.
///
/// Accepted on the impl block: `mailbox = N` or `mailbox = unbounded`, `max_shared = N`,
/// `name = "..."`, `stuck_after = "<duration>"` (the actor's default spawn options) and
/// `timeout = "<duration>"` (the handle's default call timeout); durations are written as
/// `"250ms"`, `"5s"` or `"2m"`. `vis = "pub(crate)"` sets the handle's visibility (by default
/// the widest handler's). On a method: `#[actor(skip)]` keeps it out of the message set;
/// `#[actor(tell)]` (for a method returning nothing) makes it fire-and-forget, with no reply
/// slot in its message; `#[actor(handler)]` keeps a method named like a hook as a message.
/// Methods named `on_start`, `on_stop` and `on_panic` are the lifecycle hooks. A handler that
/// takes a `Reply<T>` argument answers through it instead of returning.
///
/// `remote` (with `version = N`, default 1, and `tag = "..."`, default the type's name) also
/// generates, for actor-remote, a remote handle (`CounterRemote`) and the `Serve` impl of the
/// local handle; arguments and replies must then be serde types.
#[proc_macro_attribute]
pub fn actor(args: TokenStream, input: TokenStream) -> TokenStream {
    expand(args.into(), input.into()).into()
}

/// The whole macro on `proc_macro2` tokens, so that tests and goldens can run it.
fn expand(
    args: proc_macro2::TokenStream,
    input: proc_macro2::TokenStream,
) -> proc_macro2::TokenStream {
    let item: syn::Item = match syn::parse2(input.clone()) {
        Ok(item) => item,
        // Not an item at all: let the compiler report the syntax error on the original tokens.
        Err(error) => {
            let error = error.to_compile_error();
            return quote::quote!(#input #error);
        }
    };
    let mut errors = Vec::new();
    let options = attr::options(args, &mut errors);
    let remote = options.remote.is_some();
    let Some(actor) = ast::parse(&item, &mut errors) else {
        return fallback::emit(&item, errors, remote);
    };
    validate::check(&actor, &mut errors);
    if options.remote.is_some() && !actor.item.generics.params.is_empty() {
        errors.push(syn::Error::new_spanned(
            &actor.item.generics,
            "a `remote` actor cannot be generic: its messages are named on the wire by the actor's type name alone",
        ));
    }
    if errors.is_empty() {
        expand::actor(&actor, &options)
    } else {
        fallback::emit(&item, errors, remote)
    }
}
