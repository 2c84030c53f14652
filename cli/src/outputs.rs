//! Where `calibrate` writes its files: one per K/V pair, granularity, smooth rule, weight rule
//! and rotation. A template names each with `{k}`, `{v}`, `{granularity}`, `{smooth}`,
//! `{weight}` and `{rotation}`; a plain path gets `-VALUE` before its extension for every choice
//! made more than once. Every path is known before the model loads, so that none can replace an
//! input (distinct choices give distinct names).

use crate::error::{CliError, Result};
use std::path::{Path, PathBuf};
use vecinfer_quant::{Granularity, VqCodec};

/// What a run trains, each choice by the name its file carries.
pub struct Outputs<'a> {
    pub out: &'a Path,
    pub pairs: &'a [(VqCodec, VqCodec)],
    pub granularities: &'a [Granularity],
    pub smooth: &'a [String],
    pub weight: &'a [String],
    pub rotation: &'a [String],
}

/// One file's choices, by name.
pub struct FileKey<'a> {
    pub pair: (VqCodec, VqCodec),
    pub granularity: Granularity,
    pub smooth: &'a str,
    pub weight: &'a str,
    pub rotation: &'a str,
}

impl Outputs<'_> {
    fn template(&self) -> String {
        self.out.to_string_lossy().into_owned()
    }

    /// A template must name every choice made more than once (the pairs always: a plain path
    /// has no tag for them). All missing placeholders are named at once.
    pub fn check(&self) -> Result<()> {
        let template = self.template();
        let is_template = template.contains('{');
        let mut missing = Vec::new();
        if self.pairs.len() > 1 {
            missing.extend(["{k}", "{v}"].into_iter().filter(|p| !template.contains(p)));
        }
        let several = [
            (self.granularities.len(), "{granularity}"),
            (self.smooth.len(), "{smooth}"),
            (self.weight.len(), "{weight}"),
            (self.rotation.len(), "{rotation}"),
        ];
        if is_template || !missing.is_empty() {
            missing.extend(
                several
                    .into_iter()
                    .filter(|&(n, p)| n > 1 && !template.contains(p))
                    .map(|(_, p)| p),
            );
        }
        if missing.is_empty() {
            return Ok(());
        }
        // The example names every placeholder this run needs.
        let mut needed: Vec<&str> = Vec::new();
        if self.pairs.len() > 1 {
            needed.extend(["{k}", "{v}"]);
        }
        needed.extend(several.into_iter().filter(|&(n, _)| n > 1).map(|(_, p)| p));
        Err(CliError::BadOption {
            option: "--out",
            given: template,
            valid: format!(
                "a path that names {} so that each file of --also and of several --granularity, --smooth, --weight or --rotation values is its own (e.g. cb-{}.safetensors)",
                missing.join(", "),
                needed.join("-")
            ),
        })
    }

    /// The file of `key`.
    pub fn path(&self, key: &FileKey<'_>) -> PathBuf {
        let tag = |name: &str| name.replace(':', "_");
        let (granularity, smooth, weight, rotation) = (
            key.granularity.to_string(),
            tag(key.smooth),
            tag(key.weight),
            tag(key.rotation),
        );
        let template = self.template();
        if template.contains('{') {
            return PathBuf::from(
                template
                    .replace("{k}", &key.pair.0.to_string())
                    .replace("{v}", &key.pair.1.to_string())
                    .replace("{granularity}", &granularity)
                    .replace("{smooth}", &smooth)
                    .replace("{weight}", &weight)
                    .replace("{rotation}", &rotation),
            );
        }
        let mut path = self.out.to_path_buf();
        for (count, value) in [
            (self.granularities.len(), &granularity),
            (self.smooth.len(), &smooth),
            (self.weight.len(), &weight),
            (self.rotation.len(), &rotation),
        ] {
            if count > 1 {
                path = with_tag(&path, value);
            }
        }
        path
    }

    /// Every file the run writes.
    pub fn all(&self) -> Vec<PathBuf> {
        let mut paths = Vec::new();
        for &pair in self.pairs {
            for &granularity in self.granularities {
                for smooth in self.smooth {
                    for weight in self.weight {
                        for rotation in self.rotation {
                            paths.push(self.path(&FileKey {
                                pair,
                                granularity,
                                smooth,
                                weight,
                                rotation,
                            }));
                        }
                    }
                }
            }
        }
        paths
    }
}

/// `out` with `-TAG` before its extension.
fn with_tag(out: &Path, tag: &str) -> PathBuf {
    let stem = out
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = match out.extension() {
        Some(ext) => format!("{stem}-{tag}.{}", ext.to_string_lossy()),
        None => format!("{stem}-{tag}"),
    };
    out.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    /// The run's files, after its template passed the check.
    fn checked_paths(outputs: &Outputs<'_>) -> Vec<String> {
        outputs.check().unwrap();
        outputs
            .all()
            .iter()
            .map(|p| p.display().to_string())
            .collect()
    }

    #[test]
    fn plain_paths_get_a_tag_for_each_choice_made_more_than_once() {
        let pairs = [("d4b8".parse().unwrap(), "d8b8".parse().unwrap())];
        let (smooth, one) = (names(&["balanced", "mix:1:2"]), names(&["attention"]));
        let outputs = Outputs {
            out: Path::new("dir/cb.safetensors"),
            pairs: &pairs,
            granularities: &[Granularity::Layer, Granularity::Head],
            smooth: &smooth,
            weight: &one,
            rotation: &names(&["hadamard"]),
        };
        assert_eq!(
            checked_paths(&outputs),
            [
                "dir/cb-layer-balanced.safetensors",
                "dir/cb-layer-mix_1_2.safetensors",
                "dir/cb-head-balanced.safetensors",
                "dir/cb-head-mix_1_2.safetensors",
            ]
        );
    }

    #[test]
    fn templates_name_every_choice_made_more_than_once() {
        let pairs = [
            ("d4b8".parse().unwrap(), "d8b8".parse().unwrap()),
            ("d8b8".parse().unwrap(), "d8b8".parse().unwrap()),
        ];
        let one = names(&["x"]);
        let outputs = |out: &'static str, granularities: &'static [Granularity]| Outputs {
            out: Path::new(out),
            pairs: &pairs,
            granularities,
            smooth: &one,
            weight: &one,
            rotation: &one,
        };
        let both = &[Granularity::Layer, Granularity::Head];
        assert_eq!(
            checked_paths(&outputs("cb-{k}-{v}-{granularity}.st", both)),
            [
                "cb-d4b8-d8b8-layer.st",
                "cb-d4b8-d8b8-head.st",
                "cb-d8b8-d8b8-layer.st",
                "cb-d8b8-d8b8-head.st",
            ]
        );
        // Each missing placeholder is named, in one message.
        let err = outputs("cb-{k}.st", both).check().unwrap_err().to_string();
        assert!(err.contains("names {v}, {granularity} so"), "{err}");
        assert!(
            err.contains("e.g. cb-{k}-{v}-{granularity}.safetensors"),
            "{err}"
        );
        let err = outputs("cb.st", &[Granularity::Head])
            .check()
            .unwrap_err()
            .to_string();
        assert!(err.contains("names {k}, {v} so"), "{err}");
    }
}
