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

fn check_ctx(ctx: usize) -> Result<()> {
    if ctx < 2 {
        return Err(CliError::BadOption {
            option: "--ctx",
            given: ctx.to_string(),
            valid: "a window needs at least 2 tokens (e.g. 2048)".into(),
        });
    }
    Ok(())
}

/// Non-overlapping windows of `ctx` tokens (as llama.cpp's perplexity cuts them); a text
/// shorter than one window gives one shorter window (callers report its real length). At
/// most `max_windows` if given, which must be positive.
pub fn windows(tokens: &[u32], ctx: usize, max_windows: Option<usize>) -> Result<Vec<&[u32]>> {
    check_ctx(ctx)?;
    if max_windows == Some(0) {
        return Err(CliError::BadOption {
            option: "--max-windows",
            given: "0".into(),
            valid: "evaluate at least 1 window, or leave the option out for the whole text".into(),
        });
    }
    let mut out: Vec<&[u32]> = tokens.chunks_exact(ctx).collect();
    if out.is_empty() {
        out.push(tokens);
    }
    if let Some(n) = max_windows {
        out.truncate(n);
    }
    Ok(out)
}

/// Calibration windows: for each length of `ctxs`, whole windows of it covering an equal
/// share of `max_tokens` (fewer where the text is shorter), each length from the text after
/// the previous one's windows.
pub fn calibration_windows<'t>(
    tokens: &'t [u32],
    ctxs: &[usize],
    max_tokens: usize,
) -> Result<Vec<&'t [u32]>> {
    if ctxs.is_empty() {
        return Err(CliError::BadOption {
            option: "--ctx",
            given: "nothing".into(),
            valid: "one window length or several, comma-separated (e.g. 2048 or 2048,8192)".into(),
        });
    }
    for &ctx in ctxs {
        check_ctx(ctx)?;
    }
    crate::error::at_least_one(
        "--max-tokens",
        max_tokens,
        "record at least one window of tokens (e.g. 16384)",
    )?;
    // Each length takes an equal share of the budget (at least one window), from the text
    // after the previous length's windows.
    let share = max_tokens.div_ceil(ctxs.len());
    let mut out = Vec::new();
    let mut rest = tokens;
    for &ctx in ctxs {
        let wins = windows(rest, ctx, Some(share.div_ceil(ctx)))?;
        let used: usize = wins.iter().map(|w| w.len()).sum();
        out.extend(wins);
        rest = &rest[used.min(rest.len())..];
        if rest.is_empty() {
            break;
        }
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

    #[test]
    fn zero_counts_are_refused_not_changed() {
        let t: Vec<u32> = (0..10).collect();
        let err = windows(&t, 4, Some(0)).unwrap_err().to_string();
        assert!(err.contains("--max-windows 0"), "{err}");
        let err = calibration_windows(&t, &[0], 100).unwrap_err().to_string();
        assert!(
            err.contains("--ctx 0") && err.contains("at least 2"),
            "{err}"
        );
        let err = calibration_windows(&t, &[4], 0).unwrap_err().to_string();
        assert!(err.contains("--max-tokens 0"), "{err}");
        assert_eq!(calibration_windows(&t, &[4], 5).unwrap().len(), 2);
        assert_eq!(calibration_windows(&t, &[4], 1).unwrap().len(), 1);
        let err = calibration_windows(&t, &[], 8).unwrap_err().to_string();
        assert!(err.contains("2048,8192"), "{err}");
    }

    #[test]
    fn several_lengths_share_the_budget_from_their_own_text() {
        let t: Vec<u32> = (0..40).collect();
        let wins = calibration_windows(&t, &[4, 8], 16).unwrap();
        let spans: Vec<(u32, usize)> = wins.iter().map(|w| (w[0], w.len())).collect();
        assert_eq!(spans, vec![(0, 4), (4, 4), (8, 8)]);
        // A text too short for the second length's share: what is left, once.
        let wins = calibration_windows(&t[..10], &[4, 8], 16).unwrap();
        let spans: Vec<(u32, usize)> = wins.iter().map(|w| (w[0], w.len())).collect();
        assert_eq!(spans, vec![(0, 4), (4, 4), (8, 2)]);
    }
}
