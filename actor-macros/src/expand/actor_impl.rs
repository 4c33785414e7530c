//! The `Actor` impl: the dispatch of each variant to its method, the shared handlers, the
//! hooks, and the default spawn options.

use proc_macro2::TokenStream;
use quote::quote;

use super::*;
use crate::ast::{ActorImpl, Handler};
use crate::attr::{Mailbox, Options};
use crate::hooks::{Hook, HookKind, HookParam};
use crate::naming;

pub(super) fn actor_impl(actor: &ActorImpl<'_>, options: &Options) -> TokenStream {
    let name = naming::message_enum(actor.ident);
    let ty = actor_type(actor);
    let (impl_generics, ty_generics, where_clause) = actor.item.generics.split_for_impl();
    let phantom_arm =
        phantom_variant(actor).map(|_| quote!(#name::__Phantom(_, never) => match never {},));

    let default_options = default_options(options);
    let arms = actor.handlers.iter().map(|handler| {
        let (pattern, respond) = pattern_and_call(actor, handler);
        quote!(#pattern => #respond,)
    });
    let handle_shared = handle_shared(actor, phantom_arm.as_ref());
    let hooks = actor.hooks.iter().map(hook);
    let name_arms = actor.handlers.iter().map(|handler| {
        let variant = &handler.variant;
        let method = handler.method.sig.ident.to_string();
        quote!(#name::#variant { .. } => #method,)
    });
    let phantom_name_arm =
        phantom_arm.as_ref().map(|_| quote!(#name::__Phantom(_, never) => match *never {},));
    quote! {
        impl #impl_generics ::actor_core::__private::Actor for #ty #where_clause {
            type Message = #name #ty_generics;

            #default_options

            #(#hooks)*

            fn message_name(msg: &Self::Message) -> &'static str {
                match msg {
                    #(#name_arms)*
                    #phantom_name_arm
                }
            }

            async fn handle(&mut self, msg: Self::Message, __ctx: &::actor_core::__private::Context<Self>) {
                let _ = __ctx;
                match msg {
                    #(#arms)*
                    #phantom_arm
                }
            }

            #handle_shared
        }
    }
}

/// The trait's hook calling the user's method of the same name (an inherent method, which
/// method resolution prefers), with the arguments in the user's order.
fn hook(hook: &Hook<'_>) -> TokenStream {
    let p = quote!(::actor_core::__private);
    let method = &hook.method.sig.ident;
    let args = hook.params.iter().map(|param| match param {
        HookParam::Context => quote!(__ctx),
        HookParam::Reason => quote!(__reason),
        HookParam::Panic => quote!(__panic),
    });
    let call = if hook.is_async {
        quote!(Self::#method(self, #(#args),*).await)
    } else {
        quote!(Self::#method(self, #(#args),*))
    };
    match hook.kind {
        HookKind::Start => {
            let body = if hook.fallible {
                quote!(#call.map_err(::core::convert::Into::<#p::BoxError>::into))
            } else {
                quote!({ #call; ::core::result::Result::Ok(()) })
            };
            quote! {
                async fn on_start(&mut self, __ctx: &#p::Context<Self>) -> ::core::result::Result<(), #p::BoxError> {
                    let _ = __ctx;
                    #body
                }
            }
        }
        HookKind::Stop => quote! {
            async fn on_stop(&mut self, __ctx: &#p::Context<Self>, __reason: &#p::StopReason) {
                let _ = (__ctx, __reason);
                #call;
            }
        },
        HookKind::Panic => quote! {
            async fn on_panic(&mut self, __ctx: &#p::Context<Self>, __panic: &str) -> #p::PanicAction {
                let _ = (__ctx, __panic);
                #call
            }
        },
    }
}

fn default_options(options: &Options) -> Option<TokenStream> {
    if options.mailbox.is_none()
        && options.max_shared.is_none()
        && options.name.is_none()
        && options.stuck_after.is_none()
    {
        return None;
    }
    let mailbox = options.mailbox.as_ref().map(|mailbox| match mailbox {
        Mailbox::Bounded(n) => quote!(.with_mailbox(::actor_core::__private::Mailbox::Bounded(#n))),
        Mailbox::Unbounded => quote!(.with_mailbox(::actor_core::__private::Mailbox::Unbounded)),
    });
    let max_shared = options.max_shared.as_ref().map(|n| quote!(.with_max_shared(#n)));
    let name = options.name.as_ref().map(|name| quote!(.with_name(#name)));
    let stuck_after = options
        .stuck_after
        .map(|ms| quote!(.with_stuck_after(::core::time::Duration::from_millis(#ms))));
    Some(quote! {
        fn default_options() -> ::actor_core::__private::SpawnOptions {
            ::actor_core::__private::SpawnOptions::new() #mailbox #max_shared #name #stuck_after
        }
    })
}

/// `&self` handlers: synchronous ones answer inline, asynchronous ones run concurrently.
fn handle_shared(actor: &ActorImpl<'_>, phantom_arm: Option<&TokenStream>) -> Option<TokenStream> {
    let shared: Vec<&Handler<'_>> =
        actor.handlers.iter().filter(|handler| handler.shared).collect();
    if shared.is_empty() {
        return None;
    }
    let has_exclusive = actor.handlers.iter().any(|handler| !handler.shared);
    let dispatch = quote!(::actor_core::__private::Dispatch);
    let sync_arms = shared.iter().filter(|handler| !handler.is_async).map(|handler| {
        let (pattern, respond) = pattern_and_call(actor, handler);
        quote!(#pattern => { #respond; return #dispatch::Done; })
    });
    let exclusive_arm = has_exclusive.then(|| quote!(other => return #dispatch::Exclusive(other),));
    let asynchronous: Vec<&&Handler<'_>> =
        shared.iter().filter(|handler| handler.is_async).collect();

    let body = if asynchronous.is_empty() {
        // Nothing runs concurrently: the future type is never constructed, but must be named.
        let exclusive_arm = has_exclusive.then(|| quote!(other => #dispatch::Exclusive(other),));
        let done = quote!(::actor_core::__private::SyncDispatch::<Self::Message>::Done);
        let sync_arms = shared.iter().map(|handler| {
            let (pattern, respond) = pattern_and_call(actor, handler);
            quote!(#pattern => { #respond; #done })
        });
        quote! {
            match msg {
                #(#sync_arms)*
                #phantom_arm
                #exclusive_arm
            }
        }
    } else {
        let name = naming::message_enum(actor.ident);
        let selectors = asynchronous.iter().map(|handler| {
            let variant = &handler.variant;
            quote!(#name::#variant { .. })
        });
        // Parenthesised only when there are alternatives (`unused_parens` otherwise).
        let selector = if asynchronous.len() == 1 {
            quote!(#(#selectors)*)
        } else {
            quote!((#(#selectors)|*))
        };
        let async_arms = asynchronous.iter().map(|handler| {
            let (pattern, respond) = pattern_and_call(actor, handler);
            quote!(#pattern => #respond,)
        });
        // Other variants never reach the future; the arm exists only when there are any.
        let rest = (asynchronous.len() < actor.handlers.len() || phantom_arm.is_some())
            .then(|| quote!(_ => {}));
        quote! {
            let msg = match msg {
                #(#sync_arms)*
                msg @ #selector => msg,
                #phantom_arm
                #exclusive_arm
            };
            #dispatch::Pending(async move {
                match msg {
                    #(#async_arms)*
                    #rest
                }
            })
        }
    };
    Some(quote! {
        fn handle_shared<'__a>(
            &'__a self,
            msg: Self::Message,
            __ctx: &'__a ::actor_core::__private::Context<Self>,
        ) -> #dispatch<impl ::core::future::Future<Output = ()> + ::core::marker::Send + '__a, Self::Message> {
            let _ = __ctx;
            #body
        }
    })
}
