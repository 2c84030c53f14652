//! [`CacheSpec`]: what a GPU cache holds. A kernel is generated for one spec; every launch
//! checks the kernel against the cache it is given, so safe code cannot make a kernel read a
//! cache with other row sizes, codebooks or layout.

use crate::error::{Result, RuntimeError};
use vecinfer_codegen::{BookFormat, CodeLayout, KernelConfig};
use vecinfer_quant::{CacheLayout, Granularity, KeyTransform, LayerParams, VqCodec};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CacheSpec {
    pub head_dim: usize,
    pub kv_heads: usize,
    pub key_codec: VqCodec,
    pub value_codec: VqCodec,
    pub granularity: Granularity,
    pub transform: KeyTransform,
    /// Where the code rows live.
    pub layout: CodeLayout,
    /// Which tokens stay out of the codes (sinks and the newest `residual`), and whether
    /// they are held in fp16 or int8.
    pub window: CacheLayout,
    /// The narrowest format that holds every key centroid exactly: `E4m3` books run under
    /// kernels of either key-book format, f16 ones only under f16 kernels.
    pub key_books: BookFormat,
}

impl CacheSpec {
    /// The spec of a cache of one layer's parameters; the granularity follows from how many
    /// codebooks the layer has.
    pub fn of(params: &LayerParams<'_>, layout: CodeLayout, window: CacheLayout) -> Result<Self> {
        let books = params.keys.all().len();
        let granularity = if books == 1 {
            Granularity::Layer
        } else if books == params.kv_heads && params.values.all().len() == books {
            Granularity::Head
        } else {
            return Err(RuntimeError::Invalid(format!(
                "a layer of {} KV heads has {books} key and {} value codebooks: valid are 1 (layer granularity) or one per KV head, the same for K and V",
                params.kv_heads,
                params.values.all().len()
            )));
        };
        if params.rotation.is_some() {
            return Err(RuntimeError::Invalid(
                "these codebooks rotate keys by a learned rotation (calibrate --rotation learned); the GPU kernels apply the Hadamard only: evaluate them on the CPU, or calibrate with --rotation hadamard".into(),
            ));
        }
        if params.smooth.len() != params.kv_heads * params.head_dim {
            return Err(RuntimeError::BufferLength {
                what: "the smooth scales",
                expected: format!(
                    "kv_heads × head_dim = {} × {}",
                    params.kv_heads, params.head_dim
                ),
                got: params.smooth.len(),
            });
        }
        let e4m3 = params
            .keys
            .all()
            .iter()
            .all(|b| b.first_non_e4m3().is_none());
        Ok(Self {
            head_dim: params.head_dim,
            kv_heads: params.kv_heads,
            key_codec: params.keys.codec(),
            value_codec: params.values.codec(),
            granularity,
            transform: params.transform,
            layout,
            window,
            key_books: if e4m3 {
                BookFormat::E4m3
            } else {
                BookFormat::F16
            },
        })
    }

    pub fn key_row_bytes(&self) -> usize {
        self.key_codec.packed_bytes(self.head_dim).unwrap_or(0)
    }

    pub fn value_row_bytes(&self) -> usize {
        self.value_codec.packed_bytes(self.head_dim).unwrap_or(0)
    }

    /// Slots per (sequence, KV head): the sinks and the window (at least one, so every
    /// buffer is non-empty).
    pub fn fp16_capacity(&self) -> usize {
        (self.window.sinks + self.window.residual).max(1)
    }

    /// Bytes one slot row (one token of one KV head, keys or values) takes: fp16, or int8
    /// codes and an fp16 scale.
    pub fn slot_row_bytes(&self) -> usize {
        self.window.precision.row_bytes(self.head_dim)
    }

    /// The slot buffers' layout for `slots` sequence slots.
    pub(crate) fn slot_layout(&self, slots: usize) -> crate::slot_rows::SlotLayout {
        crate::slot_rows::SlotLayout {
            head_dim: self.head_dim,
            precision: self.window.precision,
            rows: slots * self.kv_heads * self.fp16_capacity(),
        }
    }

    /// Coded rows of a sequence of `total` tokens.
    pub fn coded_tokens(&self, total: usize) -> usize {
        total.saturating_sub(self.window.sinks + self.window.residual)
    }

    /// The fp16 slot of the `n`-th fp16 token of a sequence (sinks first, then the window,
    /// oldest first, as the CPU reference lists them) that holds `sinks` sinks and `coded`
    /// coded tokens: sinks in slots `[0, sinks)`, window token `i` in slot
    /// `sinks + (i - sinks) % residual`.
    pub fn fp16_slot(&self, n: usize, sinks: usize, coded: usize) -> usize {
        if n < sinks {
            n
        } else {
            let token = sinks + coded + (n - sinks);
            sinks + (token - sinks) % self.window.residual.max(1)
        }
    }

    /// Whether `config` was generated for a cache like this one; the error names the first
    /// field that differs. The GQA group is the query's business, not the cache's.
    pub fn check(&self, config: &KernelConfig) -> Result<()> {
        let mismatch = |what: &'static str, kernel_has: String, cache_has: String| {
            Err(RuntimeError::KernelMismatch {
                kernel: config.name(),
                what,
                kernel_has,
                cache_has,
            })
        };
        if config.head_dim != self.head_dim {
            return mismatch(
                "head dim",
                config.head_dim.to_string(),
                self.head_dim.to_string(),
            );
        }
        if config.key_codec != self.key_codec {
            return mismatch(
                "key codec",
                config.key_codec.to_string(),
                self.key_codec.to_string(),
            );
        }
        if config.value_codec != self.value_codec {
            return mismatch(
                "value codec",
                config.value_codec.to_string(),
                self.value_codec.to_string(),
            );
        }
        // With one KV head, per-head and per-layer codebooks are the same buffer.
        if config.granularity != self.granularity && self.kv_heads > 1 {
            return mismatch(
                "granularity",
                config.granularity.to_string(),
                self.granularity.to_string(),
            );
        }
        if config.transform != self.transform {
            return mismatch(
                "key transform",
                config.transform.name().to_string(),
                self.transform.name().to_string(),
            );
        }
        if config.layout != self.layout {
            return mismatch(
                "code layout",
                config.layout.to_string(),
                self.layout.to_string(),
            );
        }
        if config.window != self.window.precision {
            return mismatch(
                "window precision",
                config.window.to_string(),
                self.window.precision.to_string(),
            );
        }
        // An e4m3 kernel would round f16 centroids while the append and the reference search
        // and decode them as given: refused rather than silently less accurate.
        if config.key_book == BookFormat::E4m3 && self.key_books != BookFormat::E4m3 {
            return mismatch(
                "key codebooks of",
                "e4m3 values".into(),
                "f16 values that e4m3 does not hold (round them with Codebook::to_e4m3, or calibrate with --key-book e4m3; or use an f16 key-book kernel)".into(),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vecinfer_quant::WindowPrecision;
    use vecinfer_quant::synthetic::random_codebook_set;

    fn spec() -> CacheSpec {
        CacheSpec {
            head_dim: 128,
            kv_heads: 2,
            key_codec: "d4b8".parse().unwrap(),
            value_codec: "d4b8".parse().unwrap(),
            granularity: Granularity::Layer,
            transform: KeyTransform::BOTH,
            layout: CodeLayout::Contiguous,
            window: CacheLayout {
                sinks: 4,
                residual: 32,
                ..CacheLayout::default()
            },
            key_books: BookFormat::F16,
        }
    }

    fn config() -> KernelConfig {
        KernelConfig::default_for(128, 4, "d4b8".parse().unwrap(), "d4b8".parse().unwrap())
    }

    fn what_differs(config: KernelConfig) -> &'static str {
        match spec().check(&config) {
            Err(RuntimeError::KernelMismatch { what, .. }) => what,
            other => panic!("expected a mismatch, got {other:?}"),
        }
    }

    #[test]
    fn every_kind_of_mismatch_is_a_typed_error() {
        let c = config();
        spec().check(&c).unwrap();
        // The group is the query's: any group fits.
        spec().check(&KernelConfig { group: 2, ..c }).unwrap();
        assert_eq!(what_differs(KernelConfig { head_dim: 64, ..c }), "head dim");
        let d2b8 = "d2b8".parse().unwrap();
        assert_eq!(
            what_differs(KernelConfig {
                key_codec: d2b8,
                ..c
            }),
            "key codec"
        );
        assert_eq!(
            what_differs(KernelConfig {
                value_codec: d2b8,
                ..c
            }),
            "value codec"
        );
        assert_eq!(
            what_differs(KernelConfig {
                granularity: Granularity::Head,
                ..c
            }),
            "granularity"
        );
        assert_eq!(
            what_differs(KernelConfig {
                transform: KeyTransform::NONE,
                ..c
            }),
            "key transform"
        );
        assert_eq!(
            what_differs(KernelConfig {
                layout: CodeLayout::Paged { page_tokens: 64 },
                ..c
            }),
            "code layout"
        );
        let int8 = CacheSpec {
            window: CacheLayout {
                precision: WindowPrecision::Int8,
                ..spec().window
            },
            ..spec()
        };
        match int8.check(&c) {
            Err(RuntimeError::KernelMismatch { what, .. }) => assert_eq!(what, "window precision"),
            other => panic!("expected a mismatch, got {other:?}"),
        }
        int8.check(&KernelConfig {
            window: WindowPrecision::Int8,
            ..c
        })
        .unwrap();
        let paged = CacheSpec {
            layout: CodeLayout::Paged { page_tokens: 64 },
            ..spec()
        };
        let err = paged
            .check(&KernelConfig {
                layout: CodeLayout::Paged { page_tokens: 128 },
                ..c
            })
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("code layout paged128, the cache holds paged64"),
            "{err}"
        );
    }

    #[test]
    fn fp16_tokens_sit_in_sink_slots_then_the_window_ring() {
        let s = spec(); // 4 sinks, a window of 32
        assert_eq!(
            (0..4).map(|n| s.fp16_slot(n, 4, 0)).collect::<Vec<_>>(),
            [0, 1, 2, 3]
        );
        // No coded token yet: window token 4 is the first ring slot.
        assert_eq!(s.fp16_slot(4, 4, 0), 4);
        // 40 coded tokens: the oldest window token is token 44, ring slot 4 + 40 % 32 = 12.
        assert_eq!(s.fp16_slot(4, 4, 40), 12);
        assert_eq!(s.fp16_slot(4 + 31, 4, 40), 4 + (40 + 31) % 32);
    }

    #[test]
    fn one_kv_head_takes_either_granularity() {
        let one = CacheSpec {
            kv_heads: 1,
            ..spec()
        };
        one.check(&KernelConfig {
            granularity: Granularity::Head,
            ..config()
        })
        .unwrap();
    }

    #[test]
    fn the_spec_reads_granularity_from_the_codebook_count() {
        let codec = "d4b8".parse().unwrap();
        for (granularity, heads) in [(Granularity::Layer, 3), (Granularity::Head, 3)] {
            let set = random_codebook_set(1, codec, codec, granularity, 1, heads, 64);
            let params = set.layer(0, KeyTransform::BOTH).unwrap();
            let s = CacheSpec::of(&params, CodeLayout::Contiguous, CacheLayout::default()).unwrap();
            assert_eq!(s.granularity, granularity);
            assert_eq!((s.kv_heads, s.head_dim), (heads, 64));
        }
    }

    #[test]
    fn an_e4m3_key_book_kernel_needs_books_of_e4m3_values() {
        let (k, v) = ("d8b12".parse().unwrap(), "d8b8".parse().unwrap());
        let mut set = random_codebook_set(3, k, v, Granularity::Head, 1, 2, 128);
        let f16_kernel = KernelConfig {
            granularity: Granularity::Head,
            ..KernelConfig::default_for(128, 4, k, v)
        };
        let e4m3_kernel = KernelConfig {
            key_book: BookFormat::E4m3,
            ..f16_kernel
        };
        let spec_of = |set: &vecinfer_quant::CodebookSet| {
            let params = set.layer(0, KeyTransform::BOTH).unwrap();
            CacheSpec::of(&params, CodeLayout::Contiguous, CacheLayout::default()).unwrap()
        };
        let random = spec_of(&set);
        assert_eq!(random.key_books, BookFormat::F16);
        random.check(&f16_kernel).unwrap();
        let err = random.check(&e4m3_kernel).unwrap_err().to_string();
        assert!(
            err.contains("key codebooks of e4m3 values") && err.contains("Codebook::to_e4m3"),
            "{err}"
        );
        set.round_keys_to_e4m3();
        let rounded = spec_of(&set);
        assert_eq!(rounded.key_books, BookFormat::E4m3);
        rounded.check(&e4m3_kernel).unwrap();
        rounded.check(&f16_kernel).unwrap();
    }

    #[test]
    fn learned_rotations_are_refused_not_run_as_the_hadamard() {
        let codec = "d4b8".parse().unwrap();
        let mut set = random_codebook_set(1, codec, codec, Granularity::Layer, 1, 2, 16);
        let h = vecinfer_quant::rotation::hadamard_matrix(16).unwrap();
        set.rotation = Some(vec![[h.clone(), h].concat()]);
        let params = set.layer(0, KeyTransform::BOTH).unwrap();
        let err = CacheSpec::of(&params, CodeLayout::Contiguous, CacheLayout::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("learned rotation") && err.contains("--rotation hadamard"),
            "{err}"
        );
        // The file's other transforms keep the Hadamard and still run.
        let params = set.layer(0, KeyTransform::HADAMARD).unwrap();
        CacheSpec::of(&params, CodeLayout::Contiguous, CacheLayout::default()).unwrap();
    }
}
