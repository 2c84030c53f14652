//! The VQ codec `d{d}b{b}`: each head vector is cut into sub-vectors of `d` elements, and each
//! sub-vector is stored as a `b`-bit index into a codebook of `2^b` centroids.

use crate::error::{QuantError, Result};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

pub const VALID_SUB_DIMS: [usize; 3] = [2, 4, 8];
pub const VALID_BITS: std::ops::RangeInclusive<u32> = 8..=12;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct VqCodec {
    sub_dim: usize,
    bits: u32,
}

impl VqCodec {
    pub fn new(sub_dim: usize, bits: u32) -> Result<Self> {
        if VALID_SUB_DIMS.contains(&sub_dim) && VALID_BITS.contains(&bits) {
            Ok(Self { sub_dim, bits })
        } else {
            Err(QuantError::InvalidCodec {
                given: format!("d{sub_dim}b{bits}"),
            })
        }
    }

    /// For constants (e.g. what the proc macros emit): a compile-time error when invalid.
    pub const fn new_const(sub_dim: usize, bits: u32) -> Self {
        assert!(
            (sub_dim == 2 || sub_dim == 4 || sub_dim == 8) && bits >= 8 && bits <= 12,
            "invalid VQ codec: d must be 2, 4 or 8 and b 8..=12"
        );
        Self { sub_dim, bits }
    }

    /// Elements per sub-vector (`d`).
    pub fn sub_dim(self) -> usize {
        self.sub_dim
    }

    /// Bits per code (`b`).
    pub fn bits(self) -> u32 {
        self.bits
    }

    /// Centroids in the codebook, `2^b`.
    pub fn codebook_size(self) -> usize {
        1 << self.bits
    }

    pub fn bits_per_element(self) -> f64 {
        self.bits as f64 / self.sub_dim as f64
    }

    /// Sub-vectors (codes) per head vector of `head_dim` elements.
    pub fn codes_per_vector(self, head_dim: usize) -> Result<usize> {
        crate::hadamard::check_head_dim(head_dim)?;
        if !head_dim.is_multiple_of(self.sub_dim) {
            return Err(QuantError::HeadDimNotDivisible {
                head_dim,
                sub_dim: self.sub_dim,
            });
        }
        Ok(head_dim / self.sub_dim)
    }

    /// Bytes of one packed head vector (see [`crate::pack`] for the layout).
    pub fn packed_bytes(self, head_dim: usize) -> Result<usize> {
        Ok(crate::pack::packed_len(
            self.codes_per_vector(head_dim)?,
            self.bits,
        ))
    }
}

impl fmt::Display for VqCodec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "d{}b{}", self.sub_dim, self.bits)
    }
}

impl FromStr for VqCodec {
    type Err = QuantError;

    fn from_str(s: &str) -> Result<Self> {
        let invalid = || QuantError::InvalidCodec {
            given: s.to_string(),
        };
        let rest = s.trim().strip_prefix('d').ok_or_else(invalid)?;
        let (d, b) = rest.split_once('b').ok_or_else(invalid)?;
        let d: usize = d.parse().map_err(|_| invalid())?;
        let b: u32 = b.parse().map_err(|_| invalid())?;
        Self::new(d, b).map_err(|_| invalid())
    }
}

impl TryFrom<String> for VqCodec {
    type Error = QuantError;
    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl From<VqCodec> for String {
    fn from(c: VqCodec) -> String {
        c.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_paper_configs() {
        for (s, bpe) in [
            ("d2b8", 4.0),
            ("d4b12", 3.0),
            ("d4b8", 2.0),
            ("d8b12", 1.5),
            ("d8b10", 1.25),
            ("d8b8", 1.0),
        ] {
            let c: VqCodec = s.parse().unwrap();
            assert_eq!(c.to_string(), s);
            assert_eq!(c.bits_per_element(), bpe);
        }
    }

    #[test]
    fn rejects_bad_strings_and_lists_valid_forms() {
        for bad in [
            "d3b8", "d4b20", "x", "", "d4", "b8", "d4b7", "d16b8", "d4b8x",
        ] {
            let err = bad.parse::<VqCodec>().unwrap_err().to_string();
            assert!(
                err.contains("d{d}b{b}") && err.contains("{2, 4, 8}") && err.contains("8..=12"),
                "{err}"
            );
        }
    }

    #[test]
    fn packed_sizes() {
        let c: VqCodec = "d8b10".parse().unwrap();
        assert_eq!(c.codes_per_vector(64).unwrap(), 8);
        assert_eq!(c.packed_bytes(64).unwrap(), 10);
        assert_eq!(
            "d4b12"
                .parse::<VqCodec>()
                .unwrap()
                .packed_bytes(128)
                .unwrap(),
            48
        );
        assert!(matches!(
            c.codes_per_vector(96),
            Err(QuantError::HeadDimNotPowerOfTwo(96))
        ));
    }

    #[test]
    fn serde_uses_the_string_form() {
        let c: VqCodec = "d4b8".parse().unwrap();
        assert_eq!(serde_json::to_string(&c).unwrap(), "\"d4b8\"");
        assert!(serde_json::from_str::<VqCodec>("\"d3b8\"").is_err());
    }
}
