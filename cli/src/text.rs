//! Text in, token windows out.

use crate::error::{CliError, Result, io_error};
use std::path::Path;
use vecinfer_model::{GgufTokenizer, ModelError};

pub fn read_tokens(path: &Path, tokenizer: &GgufTokenizer) -> Result<Vec<u32>> {
    let text = std::fs::read_to_string(path).map_err(io_error(path))?;
    let tokens = tokenizer.encode(&text)?;
    if tokens.len() < 2 {
        return Err(ModelError::EmptyText.into());
    }
    Ok(tokens)
}

/// Non-overlapping windows of `ctx` tokens (as llama.cpp's perplexity cuts them); a text
/// shorter than one window gives one shorter window. At most `max_windows` if given.
pub fn windows(tokens: &[u32], ctx: usize, max_windows: Option<usize>) -> Result<Vec<&[u32]>> {
    if ctx < 2 {
        return Err(CliError::Invalid(format!(
            "--ctx {ctx}: a window needs at least 2 tokens"
        )));
    }
    let mut out: Vec<&[u32]> = tokens.chunks_exact(ctx).collect();
    if out.is_empty() {
        out.push(tokens);
    }
    if let Some(n) = max_windows {
        out.truncate(n.max(1));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_full_windows_only() {
        let t: Vec<u32> = (0..10).collect();
        assert_eq!(windows(&t, 4, None).unwrap().len(), 2);
        assert_eq!(windows(&t, 20, None).unwrap()[0].len(), 10);
        assert_eq!(windows(&t, 2, Some(3)).unwrap().len(), 3);
        assert!(windows(&t, 1, None).is_err());
    }
}
