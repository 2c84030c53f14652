//! A layer-wise plan in one file, so that an engine loads a bit allocation the way it loads one
//! calibrated set: `--codebooks plan.safetensors`.
//!
//! The file is safetensors, like a codebook file. Each part is a whole codebook file (cut down
//! to its layers) stored as a `u8` tensor `part.<i>`, so a part reads and validates exactly as
//! a `calibrate` file does. The metadata holds:
//! - `format` = `vecinfer-codebook-plan`, `format_version` = 1;
//! - `layers`: the model's layer count;
//! - `parts`: each part's model layers, `;`-separated, e.g. `0-6,8-16;7,17-18`;
//! - `allocation`: how the layers were chosen (free text, for the reader).
//!
//! [`CodebookPlan::load`] reads a plan file or a codebook file (as a uniform plan).

use crate::codebook_file::{CodebookSet, FORMAT_NAME, read_file, write_file};
use crate::error::Result;
use crate::plan::{CodebookPlan, PlanPart, layer_list, parse_layer_list};
use safetensors::SafeTensors;
use safetensors::tensor::{Dtype, TensorView};
use std::collections::HashMap;
use std::path::Path;

pub const PLAN_FORMAT_NAME: &str = "vecinfer-codebook-plan";
pub const PLAN_FORMAT_VERSION: u32 = 1;

fn part_tensor(i: usize) -> String {
    format!("part.{i}")
}

impl CodebookPlan {
    /// The plan file's bytes (see the module doc).
    pub fn to_bytes(&self) -> std::result::Result<Vec<u8>, String> {
        let parts: Vec<Vec<u8>> = self
            .parts()
            .iter()
            .map(|p| p.set.to_bytes())
            .collect::<std::result::Result<_, _>>()?;
        let views = parts
            .iter()
            .enumerate()
            .map(|(i, bytes)| {
                TensorView::new(Dtype::U8, vec![bytes.len()], bytes)
                    .map(|view| (part_tensor(i), view))
                    .map_err(|e| e.to_string())
            })
            .collect::<std::result::Result<Vec<_>, String>>()?;
        let layers = self
            .parts()
            .iter()
            .map(|p| layer_list(&p.layers))
            .collect::<Vec<_>>()
            .join(";");
        let metadata: HashMap<String, String> = [
            ("format", PLAN_FORMAT_NAME.to_string()),
            ("format_version", PLAN_FORMAT_VERSION.to_string()),
            ("layers", self.layers().to_string()),
            ("parts", layers),
            ("label", self.label()),
            ("allocation", self.allocation().to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        safetensors::serialize(views, Some(metadata)).map_err(|e| e.to_string())
    }

    /// Writes the plan file atomically (a unique temp file renamed over `path`).
    pub fn save(&self, path: &Path) -> Result<()> {
        write_file(path, self.to_bytes())
    }

    /// A plan file, or a codebook file read as a uniform plan.
    pub fn load(path: &Path) -> Result<Self> {
        read_file(path, Self::from_bytes)
    }

    /// Parses and validates a plan file or a codebook file; the error says what is wrong.
    pub fn from_bytes(bytes: &[u8]) -> std::result::Result<Self, String> {
        let (_, header) = SafeTensors::read_metadata(bytes)
            .map_err(|e| format!("not a readable safetensors file (truncated or corrupt?): {e}"))?;
        let meta = header.metadata().clone().unwrap_or_default();
        match meta.get("format").map(String::as_str) {
            Some(PLAN_FORMAT_NAME) => {}
            Some(FORMAT_NAME) => return CodebookSet::from_bytes(bytes).map(Self::uniform),
            other => {
                let found = other.map_or("no vecinfer format in its metadata".to_string(), |f| {
                    format!("metadata format is {f:?}")
                });
                return Err(format!(
                    "{found}: expected a codebook file ({FORMAT_NAME:?}) or a plan ({PLAN_FORMAT_NAME:?}), as `vecinfer calibrate` writes them"
                ));
            }
        }
        let get = |key: &str| {
            meta.get(key)
                .ok_or_else(|| format!("plan metadata key {key:?} is missing"))
        };
        let version = get("format_version")?;
        if version != &PLAN_FORMAT_VERSION.to_string() {
            return Err(format!(
                "plan format version {version:?} is not supported: this build reads version {PLAN_FORMAT_VERSION}; re-run `vecinfer calibrate`"
            ));
        }
        let layers: usize = get("layers")?
            .parse()
            .map_err(|_| "plan metadata layers is not a number".to_string())?;
        let tensors = SafeTensors::deserialize(bytes)
            .map_err(|e| format!("not a readable safetensors file (truncated or corrupt?): {e}"))?;
        let lists: Vec<&str> = get("parts")?.split(';').collect();
        if tensors.len() != lists.len() {
            return Err(format!(
                "the plan names {} parts in its metadata but holds {} tensors",
                lists.len(),
                tensors.len()
            ));
        }
        // The cheap checks first: a bad header is refused before any part is parsed.
        let named = lists
            .into_iter()
            .enumerate()
            .map(|(i, list)| parse_layer_list(list).map_err(|e| format!("part {i}: {e}")))
            .collect::<std::result::Result<Vec<_>, String>>()?;
        let covered: usize = named.iter().map(Vec::len).sum();
        if covered != layers {
            return Err(format!(
                "the plan's parts cover {covered} layers, its metadata says {layers}"
            ));
        }
        let mut parts = Vec::with_capacity(named.len());
        for (i, named) in named.into_iter().enumerate() {
            let tensor = tensors
                .tensor(&part_tensor(i))
                .map_err(|_| format!("the plan holds no tensor {:?}", part_tensor(i)))?;
            if tensor.dtype() != Dtype::U8 {
                return Err(format!(
                    "tensor {} is {:?}, expected U8 (a codebook file's bytes)",
                    part_tensor(i),
                    tensor.dtype()
                ));
            }
            let set =
                CodebookSet::from_bytes(tensor.data()).map_err(|e| format!("part {i}: {e}"))?;
            parts.push(PlanPart { set, layers: named });
        }
        Self::from_parts(parts, get("allocation")?.clone())
            .map_err(|e| format!("the plan's parts do not fit together: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codebook::Granularity;
    use crate::synthetic::random_codebook_set;
    use crate::transform::KeyTransform;

    fn set(seed: u64, k: &str, v: &str, layers: usize) -> CodebookSet {
        let (k, v) = (k.parse().unwrap(), v.parse().unwrap());
        random_codebook_set(seed, k, v, Granularity::Layer, layers, 2, 16)
    }

    fn plan() -> CodebookPlan {
        CodebookPlan::layered(
            set(1, "d4b8", "d8b8", 6),
            vec![
                (set(2, "d4b12", "d4b10", 6), vec![4, 1]),
                (set(3, "d4b12", "d4b8", 6), vec![5]),
            ],
        )
        .unwrap()
        .with_allocation("by hand".into())
    }

    fn centroids(p: &CodebookPlan, layer: usize) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
        let (s, local) = p.set_for(layer).unwrap();
        let params = s.layer(local, KeyTransform::BOTH).unwrap();
        (
            params.keys.all()[0].centroids().to_vec(),
            params.values.all()[0].centroids().to_vec(),
            s.smooth[local].clone(),
        )
    }

    #[test]
    fn a_plan_file_reads_back_as_the_plan() {
        let plan = plan();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plan.safetensors");
        plan.save(&path).unwrap();
        let back = CodebookPlan::load(&path).unwrap();
        assert_eq!(back.label(), plan.label());
        assert_eq!(back.allocation(), "by hand");
        assert_eq!(back.layers(), 6);
        assert_eq!(back.meta(), plan.meta());
        for layer in 0..6 {
            assert_eq!(back.part_of(layer).unwrap(), plan.part_of(layer).unwrap());
            assert_eq!(centroids(&back, layer), centroids(&plan, layer), "{layer}");
        }
        // A codebook file reads as a uniform plan of itself.
        let one = set(4, "d4b9", "d8b10", 3);
        one.save(&dir.path().join("one.safetensors")).unwrap();
        let uniform = CodebookPlan::load(&dir.path().join("one.safetensors")).unwrap();
        assert!(uniform.is_uniform());
        assert_eq!(uniform.meta(), &one.meta);
    }

    #[test]
    fn a_bad_plan_file_says_what_is_wrong() {
        let good = plan().to_bytes().unwrap();
        let err = |bytes: &[u8]| CodebookPlan::from_bytes(bytes).unwrap_err();
        assert!(err(&good[..good.len() - 9]).contains("truncated"));
        // Rewrite one metadata value (same length, so the header stays valid).
        let with = |from: &str, to: &str| {
            assert_eq!(from.len(), to.len());
            let at = good
                .windows(from.len())
                .position(|w| w == from.as_bytes())
                .unwrap_or_else(|| panic!("{from}"));
            let mut bytes = good.clone();
            bytes[at..at + from.len()].copy_from_slice(to.as_bytes());
            bytes
        };
        let e = err(&with("\"layers\":\"6\"", "\"layers\":\"7\""));
        assert!(e.contains("cover 6 layers"), "{e}");
        let e = err(&with("\"parts\":\"0,2-3;", "\"parts\":\"0,2-2;"));
        assert!(e.contains("cover 5 layers"), "{e}");
        let e = err(&with("0,2-3;1,4;5\"", "0,2-3;1,5;5\""));
        assert!(e.contains("do not fit") && e.contains("layer 5"), "{e}");
        let e = err(&with("\"parts\":\"0,2-3;", "\"parts\":\"0,2-x;"));
        assert!(e.contains("part 0"), "{e}");
        let e = err(&with(
            "\"format_version\":\"1\"",
            "\"format_version\":\"9\"",
        ));
        assert!(e.contains("version"), "{e}");
        let e = err(&with("codebook-plan", "codebook-plax"));
        assert!(e.contains("expected a codebook file"), "{e}");
        // One set's reader refuses a plan, and says what it is.
        let e = CodebookSet::from_bytes(&good).unwrap_err();
        assert!(e.contains("layer-wise plan"), "{e}");
    }
}
