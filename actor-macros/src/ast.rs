//! The parse step: the `impl` block as a borrowed model of handlers, with every per-item rule
//! checked as it is read. Problems are collected, never returned early, so that the user sees
//! them all at once.

use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::visit::Visit;
use syn::{
    FnArg, GenericArgument, GenericParam, Ident, ImplItem, ImplItemFn, Item, ItemImpl, Lifetime,
    Pat, PathArguments, ReturnType, Type, TypePath, Visibility,
};

use crate::attr;
use crate::hooks::{self, Hook, HookKind};
use crate::naming;

/// An `impl` block that `#[actor]` accepted.
pub(crate) struct ActorImpl<'a> {
    pub(crate) item: &'a ItemImpl,
    /// The actor type's name, as written in `impl Name<...>`.
    pub(crate) ident: &'a Ident,
    pub(crate) handlers: Vec<Handler<'a>>,
    /// The lifecycle hooks written in the block.
    pub(crate) hooks: Vec<Hook<'a>>,
    /// Methods kept out of the messages with `#[actor(skip)]`.
    pub(crate) skipped: Vec<&'a Ident>,
}

/// One method that becomes a message.
pub(crate) struct Handler<'a> {
    pub(crate) method: &'a ImplItemFn,
    pub(crate) variant: Ident,
    pub(crate) shared: bool,
    pub(crate) is_async: bool,
    pub(crate) params: Vec<Param<'a>>,
    pub(crate) output: Output<'a>,
    /// `#[actor(tell)]`: no reply slot; the handle's method only enqueues.
    pub(crate) tell: bool,
    /// Takes its reply slot as an argument (`Param::Reply`) and returns nothing.
    pub(crate) delegated: bool,
}

/// One argument of a handler, after the receiver.
pub(crate) enum Param<'a> {
    /// Carried in the message.
    Arg { ident: &'a Ident, ty: &'a Type },
    /// `&Context<Self>`: supplied by the runtime, not the caller.
    Context,
    /// `Reply<T>`: the caller's reply slot, handed to the handler, which answers through it
    /// (now, or later from elsewhere) instead of returning the answer.
    Reply,
}

/// What a handler returns, and so what its caller receives.
pub(crate) enum Output<'a> {
    Unit,
    Value(&'a Type),
    /// `Result<T, E>`: the handle flattens it with the framework's error.
    Result {
        ok: &'a Type,
        err: &'a Type,
        full: &'a Type,
    },
}

impl Output<'_> {
    /// The type carried back in the reply.
    pub(crate) fn reply_type(&self) -> proc_macro2::TokenStream {
        match self {
            Output::Unit => quote::quote!(()),
            Output::Value(ty) | Output::Result { full: ty, .. } => quote::quote!(#ty),
        }
    }
}

/// Reads `item` as an actor impl block. Returns `None` when it is not an inherent impl block at
/// all (the error explains); otherwise the model of every acceptable handler, with the problems
/// of the others in `errors`.
pub(crate) fn parse<'a>(item: &'a Item, errors: &mut Vec<syn::Error>) -> Option<ActorImpl<'a>> {
    let Item::Impl(item) = item else {
        errors.push(syn::Error::new(
            item_span(item),
            "`#[actor]` goes on an inherent `impl` block, such as `impl Counter { ... }`",
        ));
        return None;
    };
    if let Some((_, path, _)) = &item.trait_ {
        errors.push(syn::Error::new_spanned(
            path,
            "`#[actor]` goes on an inherent `impl` block, not on a trait implementation",
        ));
        return None;
    }
    let Some(ident) = self_ident(&item.self_ty) else {
        errors.push(syn::Error::new_spanned(
            &item.self_ty,
            "`#[actor]` expects a named type, such as `impl Counter`",
        ));
        return None;
    };
    for param in &item.generics.params {
        if let GenericParam::Lifetime(lifetime) = param {
            errors.push(syn::Error::new_spanned(
                lifetime,
                "an actor owns its state and cannot borrow: remove the lifetime parameter",
            ));
        }
    }
    if item.unsafety.is_some() {
        errors.push(syn::Error::new_spanned(
            item.unsafety,
            "`#[actor]` does not accept an `unsafe impl`",
        ));
    }

    let mut handlers = Vec::new();
    let mut hook_list: Vec<Hook<'a>> = Vec::new();
    let mut skipped = Vec::new();
    for impl_item in &item.items {
        let ImplItem::Fn(method) = impl_item else { continue };
        let options = attr::method_options(&method.attrs, errors);
        if options.skip {
            skipped.push(&method.sig.ident);
            continue;
        }
        let name = method.sig.ident.to_string();
        if !options.handler {
            if let Some(kind) = HookKind::of(&name) {
                if let Some(span) = options.tell {
                    errors.push(syn::Error::new(
                        span,
                        format!("`{name}` is a lifecycle hook, not a message: `#[actor(tell)]` does not apply"),
                    ));
                }
                if hook_list.iter().any(|hook| hook.kind == kind) {
                    errors.push(syn::Error::new_spanned(
                        &method.sig.ident,
                        format!("a second `{name}` hook: an actor has one of each; merge them"),
                    ));
                } else if let Some(hook) = hooks::parse(kind, method, errors) {
                    hook_list.push(hook);
                }
                continue;
            }
            if let Some(kind) = hooks::near_miss(&name) {
                errors.push(syn::Error::new_spanned(
                    &method.sig.ident,
                    format!(
                        "`{name}` is not a lifecycle hook: did you mean `{}`? Rename it to make it the hook, or mark it `#[actor(handler)]` to keep it as a message",
                        kind.name()
                    ),
                ));
                continue;
            }
        }
        if let Some(mut handler) = handler(method, errors) {
            if let Some(span) = options.tell {
                if handler.delegated {
                    errors.push(syn::Error::new(
                        span,
                        "a handler that takes its `Reply` answers its caller: `#[actor(tell)]` does not apply (its messages can still be sent with `tell`)",
                    ));
                } else if matches!(handler.output, Output::Unit) {
                    handler.tell = true;
                } else {
                    errors.push(syn::Error::new(
                        span,
                        "a `#[actor(tell)]` handler returns nothing: its caller does not wait for a reply",
                    ));
                }
            }
            handlers.push(handler);
        }
    }
    Some(ActorImpl { item, ident, handlers, hooks: hook_list, skipped })
}

fn item_span(item: &Item) -> Span {
    match item {
        Item::Struct(s) => s.struct_token.span,
        Item::Enum(e) => e.enum_token.span,
        Item::Fn(f) => f.sig.fn_token.span,
        Item::Trait(t) => t.trait_token.span,
        Item::Mod(m) => m.mod_token.span,
        other => other.span(),
    }
}

fn self_ident(ty: &Type) -> Option<&Ident> {
    match ty {
        Type::Path(TypePath { qself: None, path }) => {
            path.segments.last().map(|segment| &segment.ident)
        }
        _ => None,
    }
}

/// Reads one method; `None` if it cannot be a handler (the reasons are in `errors`).
fn handler<'a>(method: &'a ImplItemFn, errors: &mut Vec<syn::Error>) -> Option<Handler<'a>> {
    let sig = &method.sig;
    let before = errors.len();
    if let Some(constness) = sig.constness {
        errors.push(syn::Error::new_spanned(
            constness,
            "a handler cannot be a `const fn`; mark helpers with `#[actor(skip)]`",
        ));
    }
    if let Some(unsafety) = sig.unsafety {
        errors.push(syn::Error::new_spanned(unsafety, "a handler cannot be `unsafe`"));
    }
    if let Some(abi) = &sig.abi {
        errors.push(syn::Error::new_spanned(abi, "a handler cannot be `extern`"));
    }
    if let Some(variadic) = &sig.variadic {
        errors.push(syn::Error::new_spanned(variadic, "a handler cannot be variadic"));
    }
    if sig.generics.lifetimes().next().is_some() {
        for lifetime in sig.generics.lifetimes() {
            errors.push(syn::Error::new_spanned(
                lifetime,
                "a handler cannot borrow: its arguments travel in a message to the actor's task and its reply travels back, so neither may hold a lifetime; take and return owned values (`String`, not `&str`) and remove the lifetime",
            ));
        }
    } else if !sig.generics.params.is_empty() {
        errors.push(syn::Error::new_spanned(
            &sig.generics.params,
            "a handler cannot have generic parameters of its own; put them on the actor type",
        ));
    } else if let Some(where_clause) = &sig.generics.where_clause {
        errors.push(syn::Error::new_spanned(
            where_clause,
            "a handler cannot have a `where` clause of its own; put bounds on the actor type",
        ));
    }

    let mut inputs = sig.inputs.iter();
    let shared = match inputs.next() {
        Some(FnArg::Receiver(receiver))
            if receiver.reference.is_some() && receiver.colon_token.is_none() =>
        {
            receiver.mutability.is_none()
        }
        Some(FnArg::Receiver(receiver))
            if receiver.reference.is_none() && receiver.colon_token.is_none() =>
        {
            errors.push(syn::Error::new_spanned(
                receiver,
                "a handler takes `&self` or `&mut self`, not `self` by value: the actor keeps its state",
            ));
            false
        }
        Some(FnArg::Receiver(receiver)) => {
            errors
                .push(syn::Error::new_spanned(receiver, "a handler takes `&self` or `&mut self`"));
            false
        }
        _ => {
            errors.push(syn::Error::new(
                sig.ident.span(),
                "a handler takes `&self` or `&mut self`; mark associated functions with `#[actor(skip)]`",
            ));
            // Most likely a constructor: its arguments and return type are not worth reporting.
            return None;
        }
    };

    let mut params = Vec::new();
    let mut has_context = false;
    let mut delegated: Option<&Type> = None;
    for input in inputs {
        let FnArg::Typed(typed) = input else { continue };
        if let Some(answer) = reply_slot(&typed.ty) {
            if delegated.is_some() {
                errors.push(syn::Error::new_spanned(
                    &typed.ty,
                    "a handler takes its `Reply` at most once",
                ));
            } else if let Some(problem) = unstorable(answer, Carried::Reply) {
                errors.push(problem);
            } else if !matches!(&*typed.pat, Pat::Ident(_)) {
                errors.push(syn::Error::new_spanned(
                    &typed.pat,
                    "a handler argument must be a plain name, as in `reply: Reply<T>`",
                ));
            }
            delegated = Some(answer);
            params.push(Param::Reply);
            continue;
        }
        if is_context(&typed.ty) {
            if has_context {
                errors.push(syn::Error::new_spanned(
                    &typed.ty,
                    "a handler takes the context at most once",
                ));
            }
            has_context = true;
            params.push(Param::Context);
            continue;
        }
        let ident = match &*typed.pat {
            Pat::Ident(pat) if pat.by_ref.is_none() && pat.subpat.is_none() => &pat.ident,
            pat => {
                errors.push(syn::Error::new_spanned(
                    pat,
                    "a handler argument must be a plain name, as in `value: T`",
                ));
                continue;
            }
        };
        if ident == "reply" || ident.to_string().starts_with("__") {
            errors.push(syn::Error::new_spanned(
                ident,
                format!("`{ident}` is reserved for generated code; rename this argument"),
            ));
        }
        if let Some(problem) = unstorable(&typed.ty, Carried::Argument) {
            errors.push(problem);
            continue;
        }
        params.push(Param::Arg { ident, ty: &typed.ty });
    }

    if let Some(answer) = delegated {
        if let ReturnType::Type(_, ty) = &sig.output
            && !matches!(&**ty, Type::Tuple(tuple) if tuple.elems.is_empty())
        {
            errors.push(syn::Error::new_spanned(
                ty,
                "a handler that takes its `Reply` answers through it and returns nothing; remove the return type, or return the answer and drop the `Reply` argument",
            ));
        }
        return (errors.len() == before).then(|| Handler {
            method,
            variant: naming::variant(&sig.ident),
            shared,
            is_async: sig.asyncness.is_some(),
            params,
            output: output(answer),
            tell: false,
            delegated: true,
        });
    }

    let output = match &sig.output {
        ReturnType::Default => Output::Unit,
        ReturnType::Type(_, ty) => match unstorable(ty, Carried::Reply) {
            Some(problem) => {
                errors.push(problem);
                Output::Unit
            }
            None => output(ty),
        },
    };

    (errors.len() == before).then(|| Handler {
        method,
        variant: naming::variant(&sig.ident),
        shared,
        is_async: sig.asyncness.is_some(),
        params,
        output,
        tell: false,
        delegated: false,
    })
}

/// `T` of a `Reply<T>` argument (by its last path segment, so `actor_core::Reply<T>` works
/// too).
fn reply_slot(ty: &Type) -> Option<&Type> {
    if let Type::Path(TypePath { qself: None, path }) = ty
        && let Some(last) = path.segments.last()
        && last.ident == "Reply"
        && let PathArguments::AngleBracketed(args) = &last.arguments
        && args.args.len() == 1
        && let Some(GenericArgument::Type(answer)) = args.args.first()
    {
        return Some(answer);
    }
    None
}

/// `&Context<...>` (by its last path segment, so `&actor_core::Context<Self>` works too).
fn is_context(ty: &Type) -> bool {
    let Type::Reference(reference) = ty else { return false };
    reference.mutability.is_none()
        && matches!(&*reference.elem, Type::Path(TypePath { qself: None, path })
            if path.segments.last().is_some_and(|segment| segment.ident == "Context"))
}

fn output(ty: &Type) -> Output<'_> {
    if let Type::Tuple(tuple) = ty
        && tuple.elems.is_empty()
    {
        return Output::Unit;
    }
    if let Type::Path(TypePath { qself: None, path }) = ty
        && let Some(last) = path.segments.last()
        && last.ident == "Result"
        && let PathArguments::AngleBracketed(args) = &last.arguments
        && args.args.len() == 2
        && let (Some(GenericArgument::Type(ok)), Some(GenericArgument::Type(err))) =
            (args.args.first(), args.args.last())
    {
        return Output::Result { ok, err, full: ty };
    }
    Output::Value(ty)
}

/// What a type is carried as: an argument in a message, or a reply.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Carried {
    Argument,
    Reply,
}

/// Types that are not `Send` and so can never travel to the actor's task, by their last path
/// segment, with what to use instead.
const NOT_SEND: &[(&str, &str)] = &[
    ("Rc", "use `Arc`"),
    ("NonNull", "use an owned value or an `Arc`"),
    ("MutexGuard", "send the data, not the lock guard"),
    ("RwLockReadGuard", "send the data, not the lock guard"),
    ("RwLockWriteGuard", "send the data, not the lock guard"),
];

/// Why a value of type `ty` cannot travel as `carried`, if it cannot.
fn unstorable(ty: &Type, carried: Carried) -> Option<syn::Error> {
    struct Finder {
        carried: Carried,
        problem: Option<syn::Error>,
    }
    impl Finder {
        fn report(&mut self, tokens: impl quote::ToTokens, message: String) {
            if self.problem.is_none() {
                self.problem = Some(syn::Error::new_spanned(tokens, message));
            }
        }
    }
    impl<'ast> Visit<'ast> for Finder {
        fn visit_type_reference(&mut self, reference: &'ast syn::TypeReference) {
            let message = match self.carried {
                Carried::Argument => {
                    "a message cannot carry a reference: it travels to the actor's task; take an owned value such as `String` or `Arc<T>`"
                }
                Carried::Reply => {
                    "a handler's reply cannot borrow: it travels back to the caller after the handler returned; return an owned value such as `String` or `Arc<T>`"
                }
            };
            self.report(reference, message.to_owned());
        }
        fn visit_type_ptr(&mut self, pointer: &'ast syn::TypePtr) {
            self.report(pointer, "a raw pointer cannot travel to or from the actor's task (it is not `Send`); send an owned value".to_owned());
        }
        fn visit_type_impl_trait(&mut self, impl_trait: &'ast syn::TypeImplTrait) {
            self.report(impl_trait, "`impl Trait` cannot travel in a message; use a concrete type or a type parameter of the actor".to_owned());
        }
        fn visit_lifetime(&mut self, lifetime: &'ast Lifetime) {
            if lifetime.ident != "static" {
                self.report(
                    lifetime,
                    "a message cannot borrow: use an owned type instead of one with a lifetime"
                        .to_owned(),
                );
            }
        }
        fn visit_ident(&mut self, ident: &'ast Ident) {
            if ident == "Self" {
                self.report(ident, "write the actor's type name instead of `Self`: this type also appears outside the impl block".to_owned());
            }
        }
        fn visit_path_segment(&mut self, segment: &'ast syn::PathSegment) {
            if let Some((name, instead)) = NOT_SEND.iter().find(|(name, _)| segment.ident == name) {
                self.report(
                    &segment.ident,
                    format!("`{name}` is not `Send`, so it cannot travel to or from the actor's task: {instead}"),
                );
            }
            syn::visit::visit_path_segment(self, segment);
        }
    }
    let mut finder = Finder { carried, problem: None };
    finder.visit_type(ty);
    finder.problem
}

/// The visibility of the generated enum and handle: the most visible handler's.
pub(crate) fn widest_visibility<'a>(handlers: &[Handler<'a>]) -> Option<&'a Visibility> {
    fn rank(vis: &Visibility) -> u8 {
        match vis {
            Visibility::Public(_) => 3,
            Visibility::Restricted(restricted) if restricted.path.is_ident("crate") => 2,
            Visibility::Restricted(_) => 1,
            Visibility::Inherited => 0,
        }
    }
    handlers.iter().map(|handler| &handler.method.vis).max_by_key(|vis| rank(vis))
}
