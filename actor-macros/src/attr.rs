//! `#[actor(...)]` arguments on the impl block and on methods, as plain structs.
//!
//! Unknown and duplicate keys are spanned errors; every problem is collected, not just the first.

use proc_macro2::TokenStream;
use syn::parse::{ParseStream, Parser};
use syn::{Attribute, Expr, ExprLit, Ident, Lit, LitInt, LitStr, Token};

/// Options of the impl-level attribute: the actor's default spawn options.
#[derive(Default)]
pub(crate) struct Options {
    pub(crate) mailbox: Option<Mailbox>,
    pub(crate) max_shared: Option<LitInt>,
    pub(crate) name: Option<LitStr>,
}

pub(crate) enum Mailbox {
    Bounded(LitInt),
    Unbounded,
}

/// Parses `mailbox = 64, max_shared = 8, name = "counter"`.
pub(crate) fn options(args: TokenStream, errors: &mut Vec<syn::Error>) -> Options {
    let mut options = Options::default();
    let parser = |input: ParseStream<'_>| {
        while !input.is_empty() {
            let key: Ident = input.parse()?;
            let value: Option<Expr> = if input.peek(Token![=]) {
                input.parse::<Token![=]>()?;
                Some(input.parse()?)
            } else {
                None
            };
            match (key.to_string().as_str(), value) {
                ("mailbox" | "max_shared" | "name", None) => {
                    errors.push(syn::Error::new(key.span(), format!("`{key}` expects a value, as in `{key} = ...`")));
                }
                ("mailbox", Some(value)) => {
                    if options.mailbox.is_some() {
                        errors.push(duplicate(&key));
                    } else if let Some(mailbox) = mailbox(&value, errors) {
                        options.mailbox = Some(mailbox);
                    }
                }
                ("max_shared", Some(value)) => {
                    if options.max_shared.is_some() {
                        errors.push(duplicate(&key));
                    } else if let Some(n) = positive(&value, "`max_shared` expects a positive integer", errors) {
                        options.max_shared = Some(n);
                    }
                }
                ("name", Some(value)) => {
                    if options.name.is_some() {
                        errors.push(duplicate(&key));
                    } else if let Expr::Lit(ExprLit { lit: Lit::Str(name), .. }) = &value {
                        options.name = Some(name.clone());
                    } else {
                        errors.push(syn::Error::new_spanned(&value, "`name` expects a string literal"));
                    }
                }
                (other, _) => errors.push(syn::Error::new(
                    key.span(),
                    format!("unknown `#[actor]` option `{other}`; expected `mailbox`, `max_shared` or `name`"),
                )),
            }
            if input.is_empty() {
                break;
            }
            input.parse::<Token![,]>()?;
        }
        Ok(())
    };
    if let Err(error) = parser.parse2(args) {
        errors.push(error);
    }
    options
}

fn duplicate(key: &Ident) -> syn::Error {
    syn::Error::new(key.span(), format!("duplicate `{key}` option"))
}

fn mailbox(value: &Expr, errors: &mut Vec<syn::Error>) -> Option<Mailbox> {
    const EXPECTED: &str = "`mailbox` expects a positive integer (the capacity) or `unbounded`";
    match value {
        Expr::Path(path) if path.path.is_ident("unbounded") => Some(Mailbox::Unbounded),
        _ => positive(value, EXPECTED, errors).map(Mailbox::Bounded),
    }
}

fn positive(value: &Expr, expected: &str, errors: &mut Vec<syn::Error>) -> Option<LitInt> {
    if let Expr::Lit(ExprLit { lit: Lit::Int(n), .. }) = value
        && n.base10_parse::<u64>().is_ok_and(|n| n > 0)
    {
        return Some(n.clone());
    }
    errors.push(syn::Error::new_spanned(value, expected));
    None
}

/// What a method-level `#[actor(...)]` says.
#[derive(Default)]
pub(crate) struct MethodOptions {
    /// Keep the method out of the message set: a helper or constructor.
    pub(crate) skip: bool,
    /// A fire-and-forget handler: its message carries no reply slot, and the handle's method
    /// returns once the message is enqueued.
    pub(crate) tell: Option<proc_macro2::Span>,
}

/// Whether `attr` is ours (`#[actor(...)]`).
pub(crate) fn is_actor_attr(attr: &Attribute) -> bool {
    attr.path().is_ident("actor")
}

/// Reads every `#[actor(...)]` on a method.
pub(crate) fn method_options(attrs: &[Attribute], errors: &mut Vec<syn::Error>) -> MethodOptions {
    let mut options = MethodOptions::default();
    for attr in attrs.iter().filter(|attr| is_actor_attr(attr)) {
        let result = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("skip") {
                if options.skip {
                    return Err(meta.error("duplicate `skip` option"));
                }
                options.skip = true;
                Ok(())
            } else if meta.path.is_ident("tell") {
                if options.tell.is_some() {
                    return Err(meta.error("duplicate `tell` option"));
                }
                options.tell = meta.path.get_ident().map(proc_macro2::Ident::span);
                Ok(())
            } else {
                let key =
                    meta.path.get_ident().map_or_else(|| "this".to_owned(), ToString::to_string);
                Err(meta
                    .error(format!("unknown handler option `{key}`; expected `skip` or `tell`")))
            }
        });
        if let Err(error) = result {
            errors.push(error);
        }
    }
    options
}
