//! What is emitted when the input has errors: the user's impl block (so their own code still
//! type-checks), one `compile_error!` per problem, and stand-ins for every generated item (the
//! message enum with its constructors, the handle with all its methods, `spawn` and `start` on
//! the actor type), so that code using them adds no second error to the macro's own.
//!
//! The stand-ins are read from the syntax of the methods, not from the checked model, so a
//! method with an error still has its handle method. They never run: the `compile_error!`s stop
//! the build.

use proc_macro2::TokenStream;
use quote::{ToTokens, quote};
use syn::visit_mut::VisitMut;
use syn::{
    FnArg, GenericArgument, ImplItem, ImplItemFn, Item, ItemImpl, PathArguments, ReturnType, Type,
};

use crate::attr::is_actor_attr;
use crate::hooks::HookKind;
use crate::naming;

/// The impl block without our method attributes, which the compiler would not understand, and
/// without repeated definitions of one method (reported by the macro already).
pub(crate) fn strip_attrs(item: &ItemImpl) -> ItemImpl {
    let mut item = item.clone();
    let mut seen = Vec::new();
    item.items.retain(|impl_item| {
        let ImplItem::Fn(method) = impl_item else { return true };
        let name = method.sig.ident.to_string();
        let repeated = seen.contains(&name);
        seen.push(name);
        !repeated
    });
    for impl_item in &mut item.items {
        if let ImplItem::Fn(method) = impl_item {
            method.attrs.retain(|attr| !is_actor_attr(attr));
        }
    }
    item
}

/// `remote`: the impl block asked for `#[actor(remote)]`, so the remote handle and the `Serve`
/// impl get stand-ins too.
pub(crate) fn emit(item: &Item, errors: Vec<syn::Error>, remote: bool) -> TokenStream {
    let errors = errors.into_iter().map(|error| error.to_compile_error());
    let Item::Impl(item) = item else {
        return quote!(#item #(#errors)*);
    };
    let stripped = strip_attrs(item);
    let shells = shells(item);
    let remote = remote.then(|| remote_shells(item)).flatten();
    quote! {
        #stripped
        #shells
        #remote
        #(#errors)*
    }
}

/// Replaces `Self` with the actor type: in a stand-in, `Self` would be the handle.
struct ReplaceSelf<'a>(&'a Type);

impl VisitMut for ReplaceSelf<'_> {
    fn visit_type_mut(&mut self, ty: &mut Type) {
        if let Type::Path(path) = ty
            && path.qself.is_none()
            && path.path.is_ident("Self")
        {
            *ty = self.0.clone();
            return;
        }
        syn::visit_mut::visit_type_mut(self, ty);
    }
}

/// The methods that have a handle method: not skipped, not hooks, with a receiver.
fn message_methods(item: &ItemImpl) -> impl Iterator<Item = &ImplItemFn> {
    item.items
        .iter()
        .filter_map(|impl_item| match impl_item {
            ImplItem::Fn(method) => Some(method),
            _ => None,
        })
        .filter(|method| {
            let options: Vec<String> = method
                .attrs
                .iter()
                .filter(|attr| is_actor_attr(attr))
                .map(|attr| attr.to_token_stream().to_string())
                .collect();
            let skipped = options.iter().any(|o| o.contains("skip"));
            let handler = options.iter().any(|o| o.contains("handler"));
            let hook = HookKind::of(&method.sig.ident.to_string()).is_some() && !handler;
            let receiver = matches!(method.sig.inputs.first(), Some(FnArg::Receiver(_)));
            // A handler named like a generated method is an error of its own; the stand-in has the
            // generated method.
            let reserved = naming::RESERVED.contains(&method.sig.ident.to_string().as_str());
            !skipped && !hook && receiver && !reserved
        })
}

/// A method's arguments as stand-in parameters (`_: T`), without the context.
fn params(method: &ImplItemFn, actor: &Type) -> Vec<TokenStream> {
    method
        .sig
        .inputs
        .iter()
        .filter_map(|input| match input {
            FnArg::Typed(typed) => Some(typed),
            FnArg::Receiver(_) => None,
        })
        .filter(|typed| !is_context(&typed.ty) && reply_slot(&typed.ty).is_none())
        .map(|typed| {
            let mut ty = (*typed.ty).clone();
            ReplaceSelf(actor).visit_type_mut(&mut ty);
            quote!(_: #ty)
        })
        .collect()
}

/// `T` of a `Reply<T>` argument.
fn reply_slot(ty: &Type) -> Option<&Type> {
    let Type::Path(path) = ty else { return None };
    let last = path.path.segments.last().filter(|s| s.ident == "Reply")?;
    let PathArguments::AngleBracketed(args) = &last.arguments else { return None };
    match args.args.first() {
        Some(GenericArgument::Type(answer)) if args.args.len() == 1 => Some(answer),
        _ => None,
    }
}

fn is_context(ty: &Type) -> bool {
    matches!(ty, Type::Reference(r) if matches!(&*r.elem, Type::Path(p)
        if p.path.segments.last().is_some_and(|s| s.ident == "Context")))
}

/// What a handler replies, as the stand-ins need it.
enum Answer {
    /// `#[actor(tell)]`: no reply.
    Tell,
    /// Nothing, or an `impl Trait` (an error of its own).
    Unit,
    Value(Box<Type>),
    /// `Result<T, E>` (boxed: a `Type` is large).
    Result(Box<(Type, Type)>),
}

/// The reply of `method`, read from its syntax.
fn answer(method: &ImplItemFn, actor: &Type) -> Answer {
    let tell = method
        .attrs
        .iter()
        .any(|attr| is_actor_attr(attr) && attr.to_token_stream().to_string().contains("tell"));
    if tell {
        return Answer::Tell;
    }
    // A handler answering through its `Reply<T>` argument replies `T`.
    let slot = method.sig.inputs.iter().find_map(|input| match input {
        FnArg::Typed(typed) => reply_slot(&typed.ty),
        FnArg::Receiver(_) => None,
    });
    let mut ty = match (slot, &method.sig.output) {
        (Some(answer), _) => answer.clone(),
        (None, ReturnType::Type(_, ty)) => (**ty).clone(),
        (None, ReturnType::Default) => return Answer::Unit,
    };
    ReplaceSelf(actor).visit_type_mut(&mut ty);
    if ty.to_token_stream().into_iter().any(|token| token.to_string() == "impl") {
        return Answer::Unit;
    }
    if let Type::Path(path) = &ty
        && let Some(last) = path.path.segments.last()
        && last.ident == "Result"
        && let PathArguments::AngleBracketed(args) = &last.arguments
        && args.args.len() == 2
        && let (Some(GenericArgument::Type(ok)), Some(GenericArgument::Type(err))) =
            (args.args.first(), args.args.last())
    {
        return Answer::Result(Box::new((ok.clone(), err.clone())));
    }
    Answer::Value(Box::new(ty))
}

/// The handle method's return type, as the expansion would make it.
fn output(method: &ImplItemFn, actor: &Type, message: &TokenStream) -> TokenStream {
    let p = quote!(::actor_core::__private);
    match answer(method, actor) {
        Answer::Tell => quote!(::core::result::Result<(), #p::SendError<#message>>),
        Answer::Unit => quote!(::core::result::Result<(), #p::AskError>),
        Answer::Value(ty) => quote!(::core::result::Result<#ty, #p::AskError>),
        Answer::Result(types) => {
            let (ok, err) = &*types;
            quote!(::core::result::Result<#ok, #p::CallError<#err>>)
        }
    }
}

/// Stand-ins for what `#[actor(remote)]` generates: the remote handle with every method, its
/// `RemoteHandle` impl and the local handle's `Serve` impl (only for non-generic actors, the
/// only ones `remote` accepts).
fn remote_shells(item: &ItemImpl) -> Option<TokenStream> {
    let syn::Type::Path(path) = &*item.self_ty else { return None };
    let ident = &path.path.segments.last()?.ident;
    if !item.generics.params.is_empty() {
        return None;
    }
    let (remote, handle) = (naming::remote(ident), naming::handle(ident));
    let actor: Type = syn::parse_quote!(#ident);
    let r = quote!(::actor_remote);
    let never = quote!(::core::unreachable!("`#[actor]` reported an error on this impl block"));
    let methods = message_methods(item).map(|method| {
        let name = &method.sig.ident;
        let generics = &method.sig.generics;
        let params = params(method, &actor);
        let output = match answer(method, &actor) {
            Answer::Result(types) => {
                let (ok, err) = &*types;
                quote!(::core::result::Result<#ok, #r::RemoteError<#err>>)
            }
            Answer::Value(ty) => quote!(::core::result::Result<#ty, #r::RemoteError>),
            Answer::Tell | Answer::Unit => quote!(::core::result::Result<(), #r::RemoteError>),
        };
        quote!(pub async fn #name #generics (&self, #(#params),*) -> #output { #never })
    });
    Some(quote! {
        #[allow(dead_code, unreachable_pub, private_interfaces)]
        #[derive(::core::clone::Clone, ::core::fmt::Debug)]
        pub struct #remote {
            target: #r::Target,
        }
        impl #r::RemoteHandle for #remote {
            const ACTOR: &'static str = "";
            const VERSION: u32 = 0;
            fn from_target(target: #r::Target) -> Self { Self { target } }
            fn target(&self) -> &#r::Target { &self.target }
        }
        #[allow(dead_code, unreachable_pub, clippy::all)]
        impl #remote {
            pub fn with_timeout(&self, _: ::core::time::Duration) -> Self { #never }
            #(#methods)*
        }
        impl #r::Serve for #handle {
            const ACTOR: &'static str = "";
            const VERSION: u32 = 0;
            fn call<'__a>(&'__a self, _: &'__a str, _: &'__a [u8]) -> impl ::core::future::Future<Output = #r::CallResult> + ::core::marker::Send + '__a {
                async { #never }
            }
            fn stopped(&self) -> impl ::core::future::Future<Output = ()> + ::core::marker::Send {
                async { #never }
            }
        }
    })
}

fn shells(item: &ItemImpl) -> Option<TokenStream> {
    let syn::Type::Path(path) = &*item.self_ty else { return None };
    let ident = &path.path.segments.last()?.ident;
    // Lifetime parameters are an error of their own; the shells only need the type's parameters.
    if item.generics.lifetimes().next().is_some() {
        return None;
    }
    let message_ident = naming::message_enum(ident);
    let handle = naming::handle(ident);
    let (impl_generics, ty_generics, where_clause) = item.generics.split_for_impl();
    let actor: Type = syn::parse_quote!(#ident #ty_generics);
    let message = quote!(#message_ident #ty_generics);
    let p = quote!(::actor_core::__private);
    let never = quote!(::core::unreachable!("`#[actor]` reported an error on this impl block"));
    let constructors = message_methods(item).map(|method| {
        let name = &method.sig.ident;
        let generics = &method.sig.generics;
        let params = params(method, &actor);
        quote!(pub fn #name #generics (#(#params),*) -> Self { #never })
    });
    let handle_methods = message_methods(item).map(|method| {
        let name = &method.sig.ident;
        let generics = &method.sig.generics;
        let params = params(method, &actor);
        let output = output(method, &actor, &message);
        quote!(pub async fn #name #generics (&self, #(#params),*) -> #output { #never })
    });
    Some(quote! {
        #[allow(dead_code, unreachable_pub, private_interfaces)]
        pub enum #message_ident #impl_generics #where_clause {
            __Phantom(::core::marker::PhantomData<fn() -> #actor>, ::core::convert::Infallible),
        }
        #[allow(dead_code, unreachable_pub, clippy::all)]
        impl #impl_generics #message_ident #ty_generics #where_clause {
            #(#constructors)*
        }
        #[allow(dead_code, unreachable_pub, private_interfaces)]
        pub struct #handle #impl_generics #where_clause {
            __actor: ::core::marker::PhantomData<fn() -> #actor>,
        }
        impl #impl_generics ::core::clone::Clone for #handle #ty_generics #where_clause {
            fn clone(&self) -> Self { #never }
        }
        #[allow(dead_code, unreachable_pub, clippy::all)]
        impl #impl_generics #handle #ty_generics #where_clause {
            pub fn with_timeout(&self, _: ::core::time::Duration) -> Self { #never }
            pub async fn tell(&self, _: #message) -> ::core::result::Result<(), #p::SendError<#message>> { #never }
            pub fn try_tell(&self, _: #message) -> ::core::result::Result<(), #p::TrySendError<#message>> { #never }
            pub fn lookup(_: &str) -> ::core::result::Result<Self, #p::RegistryError> { #never }
            pub fn stop(&self) { #never }
            pub fn kill(&self) { #never }
            pub async fn stopped(&self) -> #p::StopReason { #never }
            pub async fn shutdown(&self) -> #p::StopReason { #never }
            pub fn is_alive(&self) -> bool { #never }
            #(#handle_methods)*
        }
        #[allow(dead_code, unreachable_pub, clippy::all)]
        impl #impl_generics #actor #where_clause {
            pub fn spawn(self) -> ::core::result::Result<#handle #ty_generics, #p::SpawnError> { #never }
            pub fn spawn_with(self, _: #p::SpawnOptions) -> ::core::result::Result<#handle #ty_generics, #p::SpawnError> { #never }
            pub async fn start(self) -> ::core::result::Result<#handle #ty_generics, #p::SpawnError> { #never }
            pub async fn start_with(self, _: #p::SpawnOptions) -> ::core::result::Result<#handle #ty_generics, #p::SpawnError> { #never }
        }
    })
}
