//! The code generator's fingerprint, stored in every tuned-configs file: a tuned result is
//! only trusted for the kernels it was measured with.
//!
//! What is hashed: the CUDA C the generator emits for one reference config of each kernel
//! family (tensor-core, LUT and dequantize attention, and the append kernel), **with comments
//! and blank lines removed and runs of spaces and tabs collapsed**. So a changed comment, the
//! crate version in the header comment, or re-indentation keeps the fingerprint (the machine
//! code is the same) and does not break a build that embeds a tuned config; any change to
//! the code itself changes it. Code a reference config does not emit (e.g. a knob only other
//! configs use) is not covered: bump [`GENERATOR_REVISION`] when such a change alters timings.

use sha2::{Digest, Sha256};
use vecinfer_codegen::{KernelConfig, KeyScoring, emit, emit_append};

/// Bumped by hand for a generator change the reference configs' source does not show.
pub const GENERATOR_REVISION: u32 = 1;

/// The fingerprint of the current code generator (16 hex digits).
pub fn codegen_fingerprint() -> String {
    let d4b8 = "d4b8".parse().expect("valid codec");
    // The default's launch bound is a choice of the heuristic, not code the generator emits
    // differently: the reference stays unbounded.
    let base = KernelConfig {
        min_blocks_per_sm: 0,
        ..KernelConfig::default_for(128, 4, d4b8, d4b8)
    };
    let mut sources = Vec::new();
    for scoring in [KeyScoring::Mma, KeyScoring::Dequantize, KeyScoring::Lut] {
        let config = match scoring {
            KeyScoring::Mma => base,
            other => KernelConfig {
                key_scoring: other,
                ..KernelConfig::cuda_core_for(128, 4, d4b8, d4b8)
            },
        };
        sources.push(
            emit(&config, "sm_90")
                .expect("reference configs are valid")
                .source,
        );
    }
    sources.push(emit_append(&base).expect("valid").source);
    fingerprint_of(&sources)
}

/// The fingerprint of generated sources (see the module doc for what is hashed).
pub fn fingerprint_of(sources: &[String]) -> String {
    let mut h = Sha256::new();
    h.update(format!("generator revision {GENERATOR_REVISION}\n"));
    for source in sources {
        h.update(code_only(source));
        h.update([0u8]);
    }
    h.finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// C source without comments and blank lines, each line trimmed and its runs of spaces and
/// tabs collapsed to one space. Comment markers inside string and character literals are
/// kept (the generated CUDA has no string literals whose spacing matters).
pub fn code_only(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let mut chars = source.chars().peekable();
    // Inside a literal: its closing quote.
    let mut literal: Option<char> = None;
    let mut in_block_comment = false;
    while let Some(c) = chars.next() {
        if in_block_comment {
            if c == '*' && chars.peek() == Some(&'/') {
                chars.next();
                in_block_comment = false;
                out.push(' ');
            } else if c == '\n' {
                out.push('\n');
            }
            continue;
        }
        if let Some(close) = literal {
            out.push(c);
            if c == '\\' {
                if let Some(escaped) = chars.next() {
                    out.push(escaped);
                }
            } else if c == close || c == '\n' {
                literal = None;
            }
            continue;
        }
        match (c, chars.peek()) {
            ('/', Some('/')) => {
                // To the end of the line (the newline stays).
                while chars.peek().is_some_and(|&n| n != '\n') {
                    chars.next();
                }
            }
            ('/', Some('*')) => {
                chars.next();
                in_block_comment = true;
            }
            ('"' | '\'', _) => {
                literal = Some(c);
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    let mut code = String::with_capacity(out.len());
    for line in out.lines() {
        let words: Vec<&str> = line
            .split([' ', '\t', '\r'])
            .filter(|w| !w.is_empty())
            .collect();
        if !words.is_empty() {
            code.push_str(&words.join(" "));
            code.push('\n');
        }
    }
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference_sources() -> Vec<String> {
        let d4b8 = "d4b8".parse().unwrap();
        let c = KernelConfig::default_for(128, 4, d4b8, d4b8);
        vec![emit(&c, "sm_90").unwrap().source]
    }

    #[test]
    fn comments_blank_lines_indentation_and_the_version_do_not_change_it() {
        let sources = reference_sources();
        let base = fingerprint_of(&sources);
        let edited: Vec<String> = sources
            .iter()
            .map(|s| {
                let s = s.replace("vecinfer-codegen 0.1.0", "vecinfer-codegen 9.9.9");
                let s = s.replace("\n", "\n\n   // a new comment line\n");
                let s = s.replace("{\n", "{ /* a block\n comment */\n\t");
                s.replace("  ", "    ")
            })
            .collect();
        assert_ne!(edited, sources, "the edits took");
        assert_eq!(fingerprint_of(&edited), base);
        assert_eq!(code_only(&edited[0]), code_only(&sources[0]));
    }

    #[test]
    fn a_change_to_the_code_changes_it() {
        let sources = reference_sources();
        let base = fingerprint_of(&sources);
        let code_changed = vec![sources[0].replacen("= 0;", "= 1;", 1)];
        assert_ne!(code_changed, sources);
        assert_ne!(fingerprint_of(&code_changed), base);
        assert_eq!(codegen_fingerprint().len(), 16);
    }

    #[test]
    fn literals_keep_comment_markers_and_spaces() {
        let src = "a = \"x // y  z\"; // gone\nb = '/'; /* gone */ c\n\n  d\t=  1;";
        assert_eq!(code_only(src), "a = \"x // y z\";\nb = '/'; c\nd = 1;\n");
    }
}
