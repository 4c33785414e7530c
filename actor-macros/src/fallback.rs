//! What is emitted when the input has errors: the user's impl block (so their own code still
//! type-checks), one `compile_error!` per problem, and empty shells of the generated types (so
//! that code naming them does not add a cascade of "cannot find type" errors).

use proc_macro2::TokenStream;
use quote::quote;
use syn::{ImplItem, Item, ItemImpl};

use crate::attr::is_actor_attr;
use crate::naming;

/// The impl block without our method attributes, which the compiler would not understand.
pub(crate) fn strip_attrs(item: &ItemImpl) -> ItemImpl {
    let mut item = item.clone();
    for impl_item in &mut item.items {
        if let ImplItem::Fn(method) = impl_item {
            method.attrs.retain(|attr| !is_actor_attr(attr));
        }
    }
    item
}

pub(crate) fn emit(item: &Item, errors: Vec<syn::Error>) -> TokenStream {
    let errors = errors.into_iter().map(|error| error.to_compile_error());
    let Item::Impl(item) = item else {
        return quote!(#item #(#errors)*);
    };
    let stripped = strip_attrs(item);
    let shells = shells(item);
    quote! {
        #stripped
        #shells
        #(#errors)*
    }
}

fn shells(item: &ItemImpl) -> Option<TokenStream> {
    if item.trait_.is_some() {
        return None;
    }
    let syn::Type::Path(path) = &*item.self_ty else { return None };
    let ident = &path.path.segments.last()?.ident;
    let message = naming::message_enum(ident);
    let handle = naming::handle(ident);
    let (impl_generics, ty_generics, where_clause) = item.generics.split_for_impl();
    // Lifetime parameters are an error of their own; the shells only need the type's parameters.
    if item.generics.lifetimes().next().is_some() {
        return None;
    }
    Some(quote! {
        #[allow(dead_code)]
        enum #message #impl_generics #where_clause {
            __Phantom(::core::marker::PhantomData<fn() -> #ident #ty_generics>, ::core::convert::Infallible),
        }
        #[allow(dead_code)]
        struct #handle #impl_generics #where_clause {
            __actor: ::core::marker::PhantomData<fn() -> #ident #ty_generics>,
        }
    })
}
