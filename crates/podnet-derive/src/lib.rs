//! `#[derive(Message)]`: implements podnet's `Message` trait, which names the action a
//! type travels under. Use it through `podnet` (or `podnet-lobby`, `podnet-framing`),
//! which re-export it.
//!
//! ```ignore
//! use podnet::Message;
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize, Message)]
//! #[message(action = "move")]
//! struct Move { x: i32, y: i32 }
//!
//! // Without the attribute, the action is the type's name in snake_case: "player_left".
//! #[derive(Serialize, Deserialize, Message)]
//! struct PlayerLeft { name: String }
//! ```

use proc_macro::TokenStream;
use proc_macro_crate::{FoundCrate, crate_name};
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::quote;
use syn::{DeriveInput, Ident, LitStr, parse_macro_input};

/// Implements `Message` for a struct or enum: `#[message(action = "...")]` names the
/// action; without it the action is the type's name in snake_case.
#[proc_macro_derive(Message, attributes(message))]
pub fn derive_message(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    match expand(&input) {
        Ok(tokens) => tokens.into(),
        Err(err) => err.to_compile_error().into(),
    }
}

fn expand(input: &DeriveInput) -> syn::Result<TokenStream2> {
    let mut action: Option<LitStr> = None;
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("message")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("action") {
                if action.is_some() {
                    return Err(meta.error("`action` is given twice"));
                }
                action = Some(meta.value()?.parse()?);
                Ok(())
            } else {
                Err(meta.error(
                    "unknown `message` attribute; the one there is: #[message(action = \"...\")]",
                ))
            }
        })?;
    }
    let action = match action {
        Some(action) => {
            if action.value().starts_with("podnet:") {
                return Err(syn::Error::new(
                    action.span(),
                    "actions starting with `podnet:` are podnet's own control messages; \
                     choose another name",
                ));
            }
            action
        }
        None => LitStr::new(&snake_case(&input.ident.to_string()), input.ident.span()),
    };
    let krate = message_crate();
    let name = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    Ok(quote! {
        impl #impl_generics #krate::Message for #name #ty_generics #where_clause {
            const ACTION: &'static str = #action;
        }
    })
}

/// The path to the crate holding `Message`, as the deriving crate knows it: `podnet`,
/// else `podnet-lobby`, else `podnet-framing` (which defines it).
fn message_crate() -> TokenStream2 {
    for candidate in ["podnet", "podnet-lobby", "podnet-framing"] {
        match crate_name(candidate) {
            // The crate itself, or its tests, examples and doctests, which see it under
            // its own name (a library deriving for itself adds
            // `extern crate self as <its name>;`). Each of the three has `Message` at its
            // root.
            Ok(FoundCrate::Itself) => {
                let ident = Ident::new(&candidate.replace('-', "_"), Span::call_site());
                return quote!(::#ident);
            }
            Ok(FoundCrate::Name(name)) => {
                let ident = Ident::new(&name, Span::call_site());
                return quote!(::#ident);
            }
            Err(_) => {}
        }
    }
    quote!(::podnet)
}

/// `PlayerLeft` → `player_left`; `HTTPGet` → `http_get`.
fn snake_case(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::with_capacity(name.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_uppercase() {
            let prev_lower =
                i > 0 && (chars[i - 1].is_lowercase() || chars[i - 1].is_ascii_digit());
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            let prev_upper = i > 0 && chars[i - 1].is_uppercase();
            if i > 0 && (prev_lower || (prev_upper && next_lower)) {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::snake_case;

    #[test]
    fn snake_cases_type_names() {
        assert_eq!(snake_case("Move"), "move");
        assert_eq!(snake_case("PlayerLeft"), "player_left");
        assert_eq!(snake_case("HTTPGet"), "http_get");
        assert_eq!(snake_case("Tick2Go"), "tick2_go");
    }
}
