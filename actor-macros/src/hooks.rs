//! Lifecycle hooks written inside the `#[actor]` block: methods named `on_start`, `on_stop` and
//! `on_panic` are the [`Actor`] trait's hooks, not messages. Their signatures are checked here,
//! each problem with an error saying what is expected.

use syn::spanned::Spanned;
use syn::{FnArg, ImplItemFn, ReturnType, Type, TypePath};

/// Which hook a method is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HookKind {
    Start,
    Stop,
    Panic,
}

impl HookKind {
    /// The hook a method named `name` is, if any.
    pub(crate) fn of(name: &str) -> Option<HookKind> {
        match name {
            "on_start" => Some(HookKind::Start),
            "on_stop" => Some(HookKind::Stop),
            "on_panic" => Some(HookKind::Panic),
            _ => None,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            HookKind::Start => "on_start",
            HookKind::Stop => "on_stop",
            HookKind::Panic => "on_panic",
        }
    }

    /// How the hook is written, for error messages.
    fn expected(self) -> &'static str {
        match self {
            HookKind::Start => {
                "the start hook is written `async fn on_start(&mut self, ctx: &Context<Self>) -> Result<(), E>` (the context, `async` and the `Result` are optional; `E` converts into a boxed error)"
            }
            HookKind::Stop => {
                "the stop hook is written `async fn on_stop(&mut self, ctx: &Context<Self>, reason: &StopReason)` (each argument and `async` are optional)"
            }
            HookKind::Panic => {
                "the panic hook is written `fn on_panic(&mut self, ctx: &Context<Self>, panic: &str) -> PanicAction` (the context and `async` are optional)"
            }
        }
    }
}

/// An argument of a hook, in the user's order; all are supplied by the runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HookParam {
    Context,
    Reason,
    Panic,
}

/// A hook method that `#[actor]` accepted.
pub(crate) struct Hook<'a> {
    pub(crate) kind: HookKind,
    pub(crate) method: &'a ImplItemFn,
    pub(crate) is_async: bool,
    pub(crate) params: Vec<HookParam>,
    /// `on_start` returns a `Result`.
    pub(crate) fallible: bool,
}

fn last_segment_is(ty: &Type, name: &str) -> bool {
    matches!(ty, Type::Path(TypePath { qself: None, path })
        if path.segments.last().is_some_and(|segment| segment.ident == name))
}

/// `&X` where `X`'s last path segment is `name`.
fn reference_to(ty: &Type, name: &str) -> bool {
    matches!(ty, Type::Reference(reference) if reference.mutability.is_none() && last_segment_is(&reference.elem, name))
}

fn is_str_ref(ty: &Type) -> bool {
    matches!(ty, Type::Reference(reference) if reference.mutability.is_none() && matches!(&*reference.elem, Type::Path(p) if p.path.is_ident("str")))
}

/// Reads a method named like a hook; `None` (with errors) if its signature is not one.
pub(crate) fn parse<'a>(
    kind: HookKind,
    method: &'a ImplItemFn,
    errors: &mut Vec<syn::Error>,
) -> Option<Hook<'a>> {
    let sig = &method.sig;
    let before = errors.len();
    let wrong = |span: proc_macro2::Span, what: &str| {
        syn::Error::new(span, format!("{what}; {}", kind.expected()))
    };
    if let Some(constness) = sig.constness {
        errors.push(wrong(constness.span, "a hook cannot be a `const fn`"));
    }
    if let Some(unsafety) = sig.unsafety {
        errors.push(wrong(unsafety.span, "a hook cannot be `unsafe`"));
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        errors.push(wrong(sig.generics.span(), "a hook has no generic parameters"));
    }
    let mut inputs = sig.inputs.iter();
    match inputs.next() {
        Some(FnArg::Receiver(receiver))
            if receiver.reference.is_some() && receiver.colon_token.is_none() => {}
        Some(other) => errors.push(wrong(other.span(), "a hook takes `&mut self` first")),
        None => errors.push(wrong(sig.ident.span(), "a hook takes `&mut self` first")),
    }
    let mut params = Vec::new();
    for input in inputs {
        let FnArg::Typed(typed) = input else { continue };
        let param = if reference_to(&typed.ty, "Context") {
            Some(HookParam::Context)
        } else if kind == HookKind::Stop && reference_to(&typed.ty, "StopReason") {
            Some(HookParam::Reason)
        } else if kind == HookKind::Panic && is_str_ref(&typed.ty) {
            Some(HookParam::Panic)
        } else {
            None
        };
        match param {
            Some(param) if params.contains(&param) => {
                errors.push(wrong(typed.ty.span(), "this argument is given twice"));
            }
            Some(param) => params.push(param),
            None => errors.push(wrong(
                typed.ty.span(),
                &format!("`{}` takes no argument of this type", kind.name()),
            )),
        }
    }
    if kind == HookKind::Panic && !params.contains(&HookParam::Panic) {
        errors.push(wrong(sig.inputs.span(), "the panic hook takes the panic's message as `&str`"));
    }
    let mut fallible = false;
    match (&sig.output, kind) {
        (ReturnType::Default, HookKind::Start | HookKind::Stop) => {}
        (ReturnType::Type(_, ty), HookKind::Start | HookKind::Stop) if matches!(&**ty, Type::Tuple(t) if t.elems.is_empty()) =>
            {}
        (ReturnType::Type(_, ty), HookKind::Start) if last_segment_is(ty, "Result") => {
            fallible = true;
        }
        (ReturnType::Type(_, ty), HookKind::Panic) if last_segment_is(ty, "PanicAction") => {}
        (ReturnType::Default, HookKind::Panic) => {
            errors.push(wrong(sig.ident.span(), "the panic hook returns a `PanicAction`"));
        }
        (ReturnType::Type(_, ty), _) => {
            errors.push(wrong(ty.span(), "a hook's return type is fixed"));
        }
    }
    (errors.len() == before).then_some(Hook {
        kind,
        method,
        is_async: sig.asyncness.is_some(),
        params,
        fallible,
    })
}

/// The hook a misspelled name was probably meant to be: a name starting with `on` within two
/// edits of a hook's name.
pub(crate) fn near_miss(name: &str) -> Option<HookKind> {
    if !name.starts_with("on") || HookKind::of(name).is_some() {
        return None;
    }
    [HookKind::Start, HookKind::Stop, HookKind::Panic]
        .into_iter()
        .find(|kind| distance(name, kind.name()) <= 2)
}

/// Levenshtein distance.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let current = row[j + 1];
            row[j + 1] = (row[j + 1] + 1).min(row[j] + 1).min(previous + usize::from(ca != cb));
            previous = current;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn misspelled_hooks_are_recognised_and_other_names_are_not() {
        assert_eq!(near_miss("on_strat"), Some(HookKind::Start));
        assert_eq!(near_miss("onstart"), Some(HookKind::Start));
        assert_eq!(near_miss("on_stopp"), Some(HookKind::Stop));
        assert_eq!(near_miss("on_panik"), Some(HookKind::Panic));
        assert_eq!(near_miss("on_start"), None);
        assert_eq!(near_miss("on_message"), None);
        assert_eq!(near_miss("start"), None);
        assert_eq!(near_miss("only"), None);
    }
}
