//! Reading a kernel declaration (`head_dim = 128, k = "d4b8", ...`) into plain values, with
//! every error spanned to the argument it is about.

use proc_macro2::Span;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Expr, ExprLit, Ident, Lit, Token};

/// Every key a declaration may use.
pub const KEYS: [&str; 26] = [
    "head_dim",
    "group",
    "k",
    "v",
    "granularity",
    "transform",
    "tile",
    "warps",
    "stages",
    "dims_per_lane",
    "split",
    "scoring",
    "replicas",
    "direct",
    "split_query",
    "key_token_rows",
    "min_blocks",
    "output",
    "layout",
    "window",
    "key_book",
    "arch",
    "tuned",
    "batch",
    "seq",
    "fallback",
];

/// One `key = value`.
#[derive(Clone, Debug)]
pub struct Arg {
    pub key: Ident,
    pub value: Value,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Int(u64),
    Str(String),
    Bool(bool),
    /// A bare word, e.g. `fallback = default`.
    Word(String),
}

impl Parse for Arg {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let key: Ident = input.parse()?;
        if !KEYS.contains(&key.to_string().as_str()) {
            return Err(syn::Error::new(
                key.span(),
                format!("unknown key `{key}`: valid keys are {}", KEYS.join(", ")),
            ));
        }
        input.parse::<Token![=]>()?;
        let expr: Expr = input.parse()?;
        let span = syn::spanned::Spanned::span(&expr);
        let value = match &expr {
            Expr::Lit(ExprLit {
                lit: Lit::Int(i), ..
            }) => Value::Int(i.base10_parse()?),
            Expr::Lit(ExprLit {
                lit: Lit::Str(s), ..
            }) => Value::Str(s.value()),
            Expr::Lit(ExprLit {
                lit: Lit::Bool(b), ..
            }) => Value::Bool(b.value),
            Expr::Path(p) if p.path.get_ident().is_some() => {
                Value::Word(p.path.get_ident().expect("checked").to_string())
            }
            _ => {
                return Err(syn::Error::new(
                    span,
                    "expected a number, a string, true/false or a word",
                ));
            }
        };
        Ok(Self { key, value, span })
    }
}

/// The arguments of one declaration, each key at most once.
#[derive(Clone, Debug, Default)]
pub struct Args {
    pub args: Vec<Arg>,
    /// Where to point errors about the declaration as a whole.
    pub span: Option<Span>,
}

impl Parse for Args {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let span = input.span();
        let list = Punctuated::<Arg, Token![,]>::parse_terminated(input)?;
        let mut args: Vec<Arg> = Vec::new();
        for a in list {
            if args.iter().any(|b| b.key == a.key) {
                return Err(syn::Error::new(
                    a.key.span(),
                    format!("`{}` is given twice", a.key),
                ));
            }
            args.push(a);
        }
        Ok(Self {
            args,
            span: Some(span),
        })
    }
}

impl Args {
    pub fn get(&self, key: &str) -> Option<&Arg> {
        self.args.iter().find(|a| a.key == key)
    }

    /// The span of `key`'s value, else of the whole declaration.
    pub fn span_of(&self, key: &str) -> Span {
        self.get(key)
            .map(|a| a.span)
            .or(self.span)
            .unwrap_or_else(Span::call_site)
    }

    pub fn int(&self, key: &str) -> syn::Result<Option<usize>> {
        match self.get(key) {
            None => Ok(None),
            Some(Arg {
                value: Value::Int(n),
                ..
            }) => Ok(Some(*n as usize)),
            Some(a) => Err(syn::Error::new(a.span, format!("`{key}` takes a number"))),
        }
    }

    pub fn string(&self, key: &str) -> syn::Result<Option<String>> {
        match self.get(key) {
            None => Ok(None),
            Some(Arg {
                value: Value::Str(s),
                ..
            }) => Ok(Some(s.clone())),
            Some(Arg {
                value: Value::Int(n),
                ..
            }) if key == "split" => Ok(Some(n.to_string())),
            Some(a) => Err(syn::Error::new(a.span, format!("`{key}` takes a string"))),
        }
    }

    pub fn flag(&self, key: &str) -> syn::Result<Option<bool>> {
        match self.get(key) {
            None => Ok(None),
            Some(Arg {
                value: Value::Bool(b),
                ..
            }) => Ok(Some(*b)),
            Some(a) => Err(syn::Error::new(
                a.span,
                format!("`{key}` takes true or false"),
            )),
        }
    }

    /// A required number.
    pub fn required(&self, key: &str) -> syn::Result<usize> {
        self.int(key)?
            .ok_or_else(|| syn::Error::new(self.span_of(key), format!("missing `{key} = ...`")))
    }

    /// `value` parsed with `FromStr`, its error spanned to the argument.
    pub fn parsed<T: std::str::FromStr>(&self, key: &str) -> syn::Result<Option<T>>
    where
        T::Err: std::fmt::Display,
    {
        match self.string(key)? {
            None => Ok(None),
            Some(s) => s
                .parse()
                .map(Some)
                .map_err(|e| syn::Error::new(self.span_of(key), format!("`{key}`: {e}"))),
        }
    }
}

/// `vq_kernels! { pub struct Name(args); ... }`: one declaration per item.
pub struct Family {
    pub items: Vec<FamilyItem>,
}

pub struct FamilyItem {
    pub attrs: Vec<syn::Attribute>,
    pub vis: syn::Visibility,
    pub name: Ident,
    pub args: Args,
}

impl Parse for Family {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let mut items = Vec::new();
        while !input.is_empty() {
            let attrs = syn::Attribute::parse_outer(input)?;
            let vis: syn::Visibility = input.parse()?;
            input.parse::<Token![struct]>()?;
            let name: Ident = input.parse()?;
            let content;
            syn::parenthesized!(content in input);
            let args: Args = content.parse()?;
            input.parse::<Token![;]>()?;
            items.push(FamilyItem {
                attrs,
                vis,
                name,
                args,
            });
        }
        Ok(Self { items })
    }
}
