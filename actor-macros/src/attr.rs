//! `#[actor(...)]` arguments on the impl block and on methods, as plain structs.
//!
//! Unknown and duplicate keys are spanned errors; every problem is collected, not just the first.

use proc_macro2::{Span, TokenStream};
use syn::parse::{ParseStream, Parser};
use syn::{Attribute, Expr, ExprLit, Ident, Lit, LitInt, LitStr, Token};

/// Options of the impl-level attribute: the actor's default spawn options and its handle's
/// default timeout.
#[derive(Default)]
pub(crate) struct Options {
    pub(crate) mailbox: Option<Mailbox>,
    pub(crate) max_shared: Option<LitInt>,
    pub(crate) name: Option<LitStr>,
    /// `stuck_after = "30s"`, in milliseconds.
    pub(crate) stuck_after: Option<u64>,
    /// `timeout = "5s"`, in milliseconds: the handle's default timeout.
    pub(crate) timeout: Option<u64>,
    /// `vis = "pub(crate)"`: the handle's visibility, instead of the widest handler's.
    pub(crate) vis: Option<syn::Visibility>,
    /// `remote`: also a remote handle and a `Serve` impl (actor-remote), at this span.
    pub(crate) remote: Option<Span>,
    /// `version = N`: the remote protocol version (with `remote` only).
    pub(crate) version: Option<u32>,
    /// Where `version` was written, for the error if `remote` is missing.
    version_key: Option<Span>,
    /// `tag = "billing.Counter"`: the actor's type tag on the wire, instead of its type's name
    /// (with `remote` only).
    pub(crate) tag: Option<LitStr>,
}

pub(crate) enum Mailbox {
    Bounded(LitInt),
    Unbounded,
}

const KEYS: &str = "`mailbox`, `max_shared`, `name`, `remote`, `stuck_after`, `tag`, `timeout`, `version` or `vis`";

/// Parses `mailbox = 64, max_shared = 8, name = "counter", stuck_after = "30s", timeout = "5s"`.
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
            let name = key.to_string();
            match (name.as_str(), value) {
                ("remote", None) => {
                    if fresh(options.remote.is_some(), &key, errors) {
                        options.remote = Some(key.span());
                    }
                }
                ("remote", Some(value)) => errors.push(syn::Error::new_spanned(
                    value,
                    "`remote` takes no value: write `#[actor(remote)]`",
                )),
                ("version", Some(value)) => {
                    if fresh(options.version_key.is_some(), &key, errors) {
                        options.version_key = Some(key.span());
                        options.version =
                            positive(&value, "`version` expects a positive integer", errors)
                                .and_then(|v| match v.base10_parse::<u32>() {
                                    Ok(v) => Some(v),
                                    Err(e) => {
                                        errors.push(e);
                                        None
                                    }
                                });
                    }
                }
                ("tag", Some(value)) => {
                    if fresh(options.tag.is_some(), &key, errors) {
                        match &value {
                            Expr::Lit(ExprLit { lit: Lit::Str(tag), .. })
                                if (1..=255).contains(&tag.value().len()) =>
                            {
                                options.tag = Some(tag.clone());
                            }
                            _ => errors.push(syn::Error::new_spanned(
                                &value,
                                "`tag` expects a string literal of 1 to 255 bytes",
                            )),
                        }
                    }
                }
                (
                    "mailbox" | "max_shared" | "name" | "stuck_after" | "tag" | "timeout"
                    | "version" | "vis",
                    None,
                ) => {
                    errors.push(syn::Error::new(
                        key.span(),
                        format!("`{key}` expects a value, as in `{key} = ...`"),
                    ));
                }
                ("mailbox", Some(value)) => {
                    if fresh(options.mailbox.is_some(), &key, errors) {
                        options.mailbox = mailbox(&value, errors);
                    }
                }
                ("max_shared", Some(value)) => {
                    if fresh(options.max_shared.is_some(), &key, errors) {
                        options.max_shared =
                            positive(&value, "`max_shared` expects a positive integer", errors);
                    }
                }
                ("name", Some(value)) => {
                    if fresh(options.name.is_some(), &key, errors) {
                        match &value {
                            Expr::Lit(ExprLit { lit: Lit::Str(name), .. }) => {
                                options.name = Some(name.clone());
                            }
                            _ => errors.push(syn::Error::new_spanned(
                                &value,
                                "`name` expects a string literal",
                            )),
                        }
                    }
                }
                ("stuck_after", Some(value)) => {
                    if fresh(options.stuck_after.is_some(), &key, errors) {
                        options.stuck_after = duration(&key, &value, errors);
                    }
                }
                ("vis", Some(value)) => {
                    if fresh(options.vis.is_some(), &key, errors) {
                        options.vis = visibility(&value, errors);
                    }
                }
                ("timeout", Some(value)) => {
                    if fresh(options.timeout.is_some(), &key, errors) {
                        options.timeout = duration(&key, &value, errors);
                    }
                }
                (other, _) => errors.push(syn::Error::new(
                    key.span(),
                    format!("unknown `#[actor]` option `{other}`; expected {KEYS}"),
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
    if let (Some(tag), None) = (&options.tag, options.remote) {
        errors.push(syn::Error::new(
            tag.span(),
            "`tag` names the actor on the remote wire: it goes with `remote`, as in `#[actor(remote, tag = \"billing.Counter\")]`",
        ));
    }
    if let (Some(span), None) = (options.version_key, options.remote) {
        errors.push(syn::Error::new(
            span,
            "`version` is the remote protocol's version: it goes with `remote`, as in `#[actor(remote, version = 2)]`",
        ));
    }
    options
}

/// Whether an option is given for the first time; a second occurrence is an error pointing at
/// it.
/// `vis = "pub(crate)"`: a visibility, written as a string literal.
fn visibility(value: &Expr, errors: &mut Vec<syn::Error>) -> Option<syn::Visibility> {
    let text = match value {
        Expr::Lit(ExprLit { lit: Lit::Str(text), .. }) => text,
        _ => {
            errors.push(syn::Error::new_spanned(
                value,
                "`vis` expects a visibility as a string literal, as in `vis = \"pub(crate)\"`",
            ));
            return None;
        }
    };
    match text.parse::<syn::Visibility>() {
        Ok(vis) => Some(vis),
        Err(_) => {
            errors.push(syn::Error::new_spanned(
                text,
                "`vis` expects a visibility such as \"pub\", \"pub(crate)\" or \"pub(super)\"",
            ));
            None
        }
    }
}

fn fresh(already: bool, key: &Ident, errors: &mut Vec<syn::Error>) -> bool {
    if already {
        errors.push(syn::Error::new(key.span(), format!("duplicate `{key}` option")));
    }
    !already
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

/// A duration written as a string: `"250ms"`, `"5s"`, `"2m"`, `"1h"`; in milliseconds.
fn duration(key: &Ident, value: &Expr, errors: &mut Vec<syn::Error>) -> Option<u64> {
    let expected = format!(
        "`{key}` expects a positive duration as a string, such as `\"5s\"`, `\"250ms\"`, `\"2m\"` or `\"1h\"`"
    );
    let parsed = match value {
        Expr::Lit(ExprLit { lit: Lit::Str(text), .. }) => parse_duration(&text.value()),
        _ => None,
    };
    if parsed.is_none() {
        errors.push(syn::Error::new_spanned(value, expected));
    }
    parsed
}

/// `"250ms"` → 250, `"5s"` → 5000, `"2m"` → 120 000, `"1h"` → 3 600 000; `None` if malformed or
/// zero.
pub(crate) fn parse_duration(text: &str) -> Option<u64> {
    let text = text.trim();
    let digits = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(digits);
    let number: u64 = number.parse().ok()?;
    let scale = match unit.trim() {
        "ms" => 1,
        "s" => 1_000,
        "m" | "min" => 60_000,
        "h" => 3_600_000,
        _ => return None,
    };
    number.checked_mul(scale).filter(|&ms| ms > 0)
}

/// What a method-level `#[actor(...)]` says.
#[derive(Default)]
pub(crate) struct MethodOptions {
    /// Keep the method out of the message set: a helper or constructor.
    pub(crate) skip: bool,
    /// A fire-and-forget handler: its message carries no reply slot, and the handle's method
    /// returns once the message is enqueued.
    pub(crate) tell: Option<Span>,
    /// A handler whose name looks like a lifecycle hook's, on purpose.
    pub(crate) handler: bool,
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
            } else if meta.path.is_ident("handler") {
                if options.handler {
                    return Err(meta.error("duplicate `handler` option"));
                }
                options.handler = true;
                Ok(())
            } else {
                let key =
                    meta.path.get_ident().map_or_else(|| "this".to_owned(), ToString::to_string);
                Err(meta.error(format!(
                    "unknown handler option `{key}`; expected `skip`, `tell` or `handler`"
                )))
            }
        });
        if let Err(error) = result {
            errors.push(error);
        }
    }
    options
}

#[cfg(test)]
mod tests {
    use super::parse_duration;

    #[test]
    fn durations_parse_with_their_unit() {
        assert_eq!(parse_duration("250ms"), Some(250));
        assert_eq!(parse_duration("5s"), Some(5_000));
        assert_eq!(parse_duration("2m"), Some(120_000));
        assert_eq!(parse_duration("1h"), Some(3_600_000));
        assert_eq!(parse_duration("0s"), None);
        assert_eq!(parse_duration("5"), None);
        assert_eq!(parse_duration("five s"), None);
        assert_eq!(parse_duration("5 parsecs"), None);
    }
}
