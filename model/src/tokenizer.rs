//! A GPT-2-style byte-level BPE tokenizer built from the GGUF's own vocabulary and merges.
//!
//! The pre-tokenizer follows the GGUF's `tokenizer.ggml.pre`: `smollm` (like StarCoder) splits
//! digits one by one before the GPT-2 byte-level split; `gpt2` and friends skip the digit split.

use crate::error::{ModelError, Result, io_error};
use candle_core::quantized::gguf_file;
use std::path::Path;
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::BPE;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::{AddedToken, PreTokenizerWrapper, Tokenizer};

/// GGUF token type of control tokens such as `<|im_start|>`.
const CONTROL_TOKEN: i32 = 3;

pub struct GgufTokenizer {
    inner: Tokenizer,
    pub bos: Option<u32>,
    pub eos: Option<u32>,
}

impl GgufTokenizer {
    pub fn load(path: &Path) -> Result<Self> {
        let mut file = std::fs::File::open(path).map_err(io_error(path))?;
        let content = crate::gguf::read_header(&mut file, &path.display().to_string())?;
        Self::from_gguf(&content)
    }

    pub fn from_gguf(content: &gguf_file::Content) -> Result<Self> {
        let md = &content.metadata;
        let bad = |what: &str| {
            ModelError::Tokenizer(format!("GGUF metadata {what} is missing or malformed"))
        };
        let strings = |key: &str| -> Result<Vec<String>> {
            let values = md
                .get(key)
                .and_then(|v| v.to_vec().ok())
                .ok_or_else(|| bad(key))?;
            values
                .iter()
                .map(|v| v.to_string().cloned().map_err(|_| bad(key)))
                .collect()
        };
        let model = md
            .get("tokenizer.ggml.model")
            .and_then(|v| v.to_string().ok())
            .cloned()
            .unwrap_or_default();
        if model != "gpt2" {
            return Err(ModelError::Tokenizer(format!(
                "tokenizer model {model:?} is not supported: only byte-level BPE (\"gpt2\")"
            )));
        }
        let tokens = strings("tokenizer.ggml.tokens")?;
        let merges: Vec<(String, String)> = strings("tokenizer.ggml.merges")?
            .into_iter()
            .map(|m| {
                m.split_once(' ')
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .ok_or_else(|| bad("tokenizer.ggml.merges"))
            })
            .collect::<Result<_>>()?;
        let vocab: tokenizers::models::bpe::Vocab = tokens
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i as u32))
            .collect();
        let bpe = BPE::builder()
            .vocab_and_merges(vocab, merges)
            .build()
            .map_err(|e| ModelError::Tokenizer(format!("building BPE: {e}")))?;
        let mut inner = Tokenizer::new(bpe);
        let pre = md
            .get("tokenizer.ggml.pre")
            .and_then(|v| v.to_string().ok())
            .cloned()
            .unwrap_or_default();
        let byte_level = PreTokenizerWrapper::ByteLevel(ByteLevel::new(false, true, true));
        let pre_tokenizer = match pre.as_str() {
            "smollm" | "starcoder" | "refact" => Sequence::new(vec![
                PreTokenizerWrapper::Digits(Digits::new(true)),
                byte_level,
            ]),
            _ => Sequence::new(vec![byte_level]),
        };
        inner.with_pre_tokenizer(Some(pre_tokenizer));
        inner.with_decoder(Some(ByteLevelDecoder::default()));
        if let Some(types) = md
            .get("tokenizer.ggml.token_type")
            .and_then(|v| v.to_vec().ok())
        {
            let special: Vec<AddedToken> = types
                .iter()
                .zip(&tokens)
                .filter(|(ty, _)| ty.to_i32().is_ok_and(|t| t == CONTROL_TOKEN))
                .map(|(_, tok)| AddedToken::from(tok.clone(), true))
                .collect();
            inner.add_special_tokens(&special);
        }
        let id = |key: &str| md.get(key).and_then(|v| v.to_u32().ok());
        Ok(Self {
            inner,
            bos: id("tokenizer.ggml.bos_token_id"),
            eos: id("tokenizer.ggml.eos_token_id"),
        })
    }

    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self
            .inner
            .encode(text, false)
            .map_err(|e| ModelError::Tokenizer(e.to_string()))?;
        Ok(enc.get_ids().to_vec())
    }

    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.inner
            .decode(ids, false)
            .map_err(|e| ModelError::Tokenizer(e.to_string()))
    }
}
