//! The tokens a declaration expands to: the type, its `KernelConfig` constant, the generated
//! CUDA source as a `&'static str`, and the typed launcher through the runtime.

use crate::resolve::Resolved;
use proc_macro2::TokenStream;
use quote::quote;
use syn::{Ident, Visibility};
use vecinfer_codegen::{
    BookFormat, CodeLayout, KernelConfig, KeyScoring, OutputDtype, SplitPolicy, emit,
};
use vecinfer_quant::{Granularity, VqCodec, WindowPrecision};

fn codec(c: VqCodec) -> TokenStream {
    let (d, b) = (c.sub_dim(), c.bits());
    quote!(::vecinfer_runtime::quant::VqCodec::new_const(#d, #b))
}

/// `KernelConfig { ... }` as a constant expression.
pub fn config_tokens(c: &KernelConfig) -> TokenStream {
    let (head_dim, group) = (c.head_dim, c.group);
    let (key_codec, value_codec) = (codec(c.key_codec), codec(c.value_codec));
    let granularity = match c.granularity {
        Granularity::Layer => quote!(Layer),
        Granularity::Head => quote!(Head),
    };
    let (smooth, hadamard) = (c.transform.smooth, c.transform.hadamard);
    let (tile, warps, stages, dims) = (c.tile_tokens, c.warps, c.stages, c.dims_per_lane);
    let split = match c.split {
        SplitPolicy::Auto => quote!(Auto),
        SplitPolicy::Fixed(n) => quote!(Fixed(#n)),
    };
    let scoring = match c.key_scoring {
        KeyScoring::Lut => quote!(Lut),
        KeyScoring::Dequantize => quote!(Dequantize),
        KeyScoring::Mma => quote!(Mma),
    };
    let (replicas, split_query, direct) = (c.codebook_replicas, c.split_query, c.direct_codes);
    let key_token_rows = c.key_token_rows;
    let min_blocks = c.min_blocks_per_sm;
    let output = match c.output {
        OutputDtype::F16 => quote!(F16),
        OutputDtype::Bf16 => quote!(Bf16),
    };
    let layout = match c.layout {
        CodeLayout::Contiguous => quote!(::vecinfer_runtime::codegen::CodeLayout::Contiguous),
        CodeLayout::Paged { page_tokens } => {
            quote!(::vecinfer_runtime::codegen::CodeLayout::Paged { page_tokens: #page_tokens })
        }
    };
    let window = match c.window {
        WindowPrecision::Fp16 => quote!(Fp16),
        WindowPrecision::Int8 => quote!(Int8),
    };
    let key_book = match c.key_book {
        BookFormat::F16 => quote!(F16),
        BookFormat::E4m3 => quote!(E4m3),
    };
    quote! {
        ::vecinfer_runtime::codegen::KernelConfig {
            head_dim: #head_dim,
            group: #group,
            key_codec: #key_codec,
            value_codec: #value_codec,
            granularity: ::vecinfer_runtime::quant::Granularity::#granularity,
            transform: ::vecinfer_runtime::quant::KeyTransform { smooth: #smooth, hadamard: #hadamard },
            tile_tokens: #tile,
            warps: #warps,
            stages: #stages,
            dims_per_lane: #dims,
            split: ::vecinfer_runtime::codegen::SplitPolicy::#split,
            key_scoring: ::vecinfer_runtime::codegen::KeyScoring::#scoring,
            codebook_replicas: #replicas,
            split_query: #split_query,
            key_token_rows: #key_token_rows,
            direct_codes: #direct,
            output: ::vecinfer_runtime::codegen::OutputDtype::#output,
            layout: #layout,
            min_blocks_per_sm: #min_blocks,
            window: ::vecinfer_runtime::quant::WindowPrecision::#window,
            key_book: ::vecinfer_runtime::codegen::BookFormat::#key_book,
        }
    }
}

/// The declared type and its `KernelDeclaration` impl.
pub fn declaration(
    vis: &Visibility,
    name: &Ident,
    attrs: &[syn::Attribute],
    r: &Resolved,
) -> TokenStream {
    let kernel = emit(&r.config, &r.arch).expect("resolve validated the config for this arch");
    let config = config_tokens(&r.config);
    let source = &kernel.source;
    let (attention_entry, merge_entry, shared) = (
        &kernel.attention_entry,
        &kernel.merge_entry,
        kernel.shared_bytes,
    );
    let tuned = match &r.tuned_from {
        Some(t) => quote!(::core::option::Option::Some(#t)),
        None => quote!(::core::option::Option::None),
    };
    // Makes Cargo track the tuned-configs file read at expansion: an edit rebuilds this.
    let tracked = r.tuned_file.as_ref().map(|path| {
        quote! {
            const _: &[u8] = include_bytes!(#path);
        }
    });
    let doc = format!(
        "VQ decode attention kernel `{}` (declared with vecinfer-macros).",
        r.config
    );
    quote! {
        #tracked

        #(#attrs)*
        #[doc = #doc]
        #[derive(Clone, Copy, Debug, Default)]
        #vis struct #name;

        impl ::vecinfer_runtime::KernelDeclaration for #name {
            const CONFIG: ::vecinfer_runtime::codegen::KernelConfig = #config;
            const SOURCE: &'static str = #source;
            const ATTENTION_ENTRY: &'static str = #attention_entry;
            const MERGE_ENTRY: &'static str = #merge_entry;
            const SHARED_BYTES: u32 = #shared;
            const TUNED_FROM: ::core::option::Option<&'static str> = #tuned;
        }

        impl #name {
            /// Compiles the embedded source for `gpu` (NVRTC, cached) and loads it.
            #vis fn compile(
                gpu: &::vecinfer_runtime::Gpu,
            ) -> ::vecinfer_runtime::Result<::vecinfer_runtime::DeclaredKernel<#name>> {
                ::vecinfer_runtime::DeclaredKernel::compile(gpu)
            }
        }
    }
}
