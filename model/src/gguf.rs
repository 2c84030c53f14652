//! Reading a GGUF header safely: candle's reader, plus the checks it leaves to the caller.
//!
//! - `general.alignment` = 0 makes candle divide by zero while it computes where tensor data
//!   starts; a walk over the metadata ahead of it (bounded by the file's size, no value
//!   kept) rejects that first.
//! - Tensor data regions must lie inside the file and must not overlap: a tensor's bytes
//!   belong to it alone.
//! - Metadata values are read typed: a key that is present with the wrong type or an
//!   impossible value is an error that names the key, never a silent default.

use crate::error::{ModelError, Result};
use candle_core::quantized::gguf_file::{self, Content, Value};
use std::io::{Read, Seek, SeekFrom};

/// Reads and checks a GGUF header from `reader` (at its start); `name` names the file in
/// errors.
pub fn read_header<R: Read + Seek>(reader: &mut R, name: &str) -> Result<Content> {
    let bad = |problem: String| ModelError::BadModel {
        path: name.to_string(),
        problem,
    };
    let io = |e: std::io::Error| bad(format!("cannot read the GGUF header: {e}"));
    let file_len = reader.seek(SeekFrom::End(0)).map_err(io)?;
    reader.seek(SeekFrom::Start(0)).map_err(io)?;
    if let Some(alignment) = alignment(&mut std::io::BufReader::new(&mut *reader), file_len)
        && !(alignment > 0 && alignment.is_power_of_two())
    {
        return Err(invalid(
            name,
            "general.alignment",
            alignment.to_string(),
            "a power of two (GGUF's default is 32)",
        ));
    }
    reader.seek(SeekFrom::Start(0)).map_err(io)?;
    let content =
        Content::read(reader).map_err(|e| bad(format!("cannot read the GGUF header: {e}")))?;
    check_tensor_regions(&content, file_len).map_err(bad)?;
    Ok(content)
}

/// The error for a metadata value that is present but unusable.
pub(crate) fn invalid(name: &str, key: &str, found: String, valid: &str) -> ModelError {
    ModelError::InvalidMetadata {
        path: name.to_string(),
        key: key.to_string(),
        found,
        valid: valid.to_string(),
    }
}

/// Every tensor's data lies within the file, after the header, and no two overlap.
fn check_tensor_regions(content: &Content, file_len: u64) -> std::result::Result<(), String> {
    let mut regions: Vec<(u64, u64, &str)> = Vec::with_capacity(content.tensor_infos.len());
    for (name, info) in &content.tensor_infos {
        let dims = info.shape.dims();
        let elements = dims
            .iter()
            .try_fold(1u64, |n, &d| n.checked_mul(d as u64))
            .ok_or_else(|| {
                format!("tensor {name} has dimensions {dims:?} whose product overflows")
            })?;
        let (block, block_bytes) = (
            info.ggml_dtype.block_size() as u64,
            info.ggml_dtype.type_size() as u64,
        );
        if !elements.is_multiple_of(block) {
            return Err(format!(
                "tensor {name} has {elements} elements, not a multiple of its {:?} block of {block}",
                info.ggml_dtype
            ));
        }
        let bytes = (elements / block).checked_mul(block_bytes);
        let start = content.tensor_data_offset.checked_add(info.offset);
        let end = start.zip(bytes).and_then(|(s, b)| s.checked_add(b));
        match (start, end) {
            (Some(start), Some(end)) if end <= file_len => regions.push((start, end, name)),
            _ => {
                return Err(format!(
                    "tensor {name} ({dims:?} {:?}) at data offset {} runs past the end of the file ({file_len} bytes): truncated or corrupt",
                    info.ggml_dtype, info.offset
                ));
            }
        }
    }
    regions.sort_unstable();
    for pair in regions.windows(2) {
        let ((_, end_a, a), (start_b, _, b)) = (pair[0], pair[1]);
        if start_b < end_a {
            return Err(format!(
                "tensors {a} and {b} overlap in the file (bytes {start_b}..{end_a}): corrupt"
            ));
        }
    }
    Ok(())
}

/// The value of `general.alignment` if the header has one of an integer type candle uses
/// (`None` also when the header is malformed: candle's reader then says how).
fn alignment<R: Read>(reader: &mut R, file_len: u64) -> Option<u64> {
    let mut walk = Walk {
        reader,
        left: file_len,
        wide: true,
    };
    let version = {
        let magic = walk.u32()?;
        if magic != 0x4655_4747 && magic != 0x4747_5546 {
            return None;
        }
        walk.u32()?
    };
    walk.wide = version >= 2;
    let _tensors = walk.length()?;
    let entries = walk.length()?;
    for _ in 0..entries {
        let key = walk.string()?;
        let kind = walk.u32()?;
        if key == b"general.alignment" {
            return match kind {
                0 => walk.bytes::<1>().map(|b| b[0] as u64),
                1 => walk.bytes::<1>().map(|b| (b[0] as i8).max(0) as u64),
                2 => walk.bytes::<2>().map(|b| u16::from_le_bytes(b) as u64),
                3 => walk
                    .bytes::<2>()
                    .map(|b| i16::from_le_bytes(b).max(0) as u64),
                4 => walk.u32().map(u64::from),
                5 => walk
                    .bytes::<4>()
                    .map(|b| i32::from_le_bytes(b).max(0) as u64),
                // Other types: candle ignores them and uses its default.
                _ => None,
            };
        }
        walk.skip_value(kind, 0)?;
    }
    None
}

/// A bounded walk over GGUF metadata: every length is checked against the bytes left.
struct Walk<'a, R: Read> {
    reader: &'a mut R,
    left: u64,
    /// Lengths are u64 from GGUF version 2 on, u32 before.
    wide: bool,
}

impl<R: Read> Walk<'_, R> {
    fn bytes<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.left = self.left.checked_sub(N as u64)?;
        let mut b = [0u8; N];
        self.reader.read_exact(&mut b).ok()?;
        Some(b)
    }

    fn u32(&mut self) -> Option<u32> {
        self.bytes::<4>().map(u32::from_le_bytes)
    }

    fn length(&mut self) -> Option<u64> {
        if self.wide {
            self.bytes::<8>().map(u64::from_le_bytes)
        } else {
            self.u32().map(u64::from)
        }
    }

    fn skip(&mut self, n: u64) -> Option<()> {
        self.left = self.left.checked_sub(n)?;
        let copied = std::io::copy(&mut (&mut *self.reader).take(n), &mut std::io::sink()).ok()?;
        (copied == n).then_some(())
    }

    fn string(&mut self) -> Option<Vec<u8>> {
        let len = self.length()?;
        if len > self.left || len > 1 << 20 {
            // Keys are short; a long one is skipped, not kept.
            self.skip(len)?;
            return Some(Vec::new());
        }
        self.left -= len;
        let mut s = vec![0u8; len as usize];
        self.reader.read_exact(&mut s).ok()?;
        Some(s)
    }

    fn skip_value(&mut self, kind: u32, depth: usize) -> Option<()> {
        let fixed = |kind: u32| match kind {
            0 | 1 | 7 => Some(1),
            2 | 3 => Some(2),
            4..=6 => Some(4),
            10..=12 => Some(8),
            _ => None,
        };
        match kind {
            8 => {
                let len = self.length()?;
                self.skip(len)
            }
            9 if depth < 64 => {
                let inner = self.u32()?;
                let count = self.length()?;
                match fixed(inner) {
                    Some(size) => self.skip(count.checked_mul(size)?),
                    None => {
                        // Strings and arrays take at least 4 bytes each: a count beyond what
                        // is left is malformed.
                        if count > self.left / 4 {
                            return None;
                        }
                        (0..count).try_for_each(|_| self.skip_value(inner, depth + 1))
                    }
                }
            }
            k => self.skip(fixed(k)?),
        }
    }
}

/// An unsigned integer value of any width (GGUF writers differ), or why not.
pub(crate) fn unsigned(v: &Value) -> Option<u64> {
    match *v {
        Value::U8(x) => Some(x.into()),
        Value::U16(x) => Some(x.into()),
        Value::U32(x) => Some(x.into()),
        Value::U64(x) => Some(x),
        Value::I8(x) => u64::try_from(x).ok(),
        Value::I16(x) => u64::try_from(x).ok(),
        Value::I32(x) => u64::try_from(x).ok(),
        Value::I64(x) => u64::try_from(x).ok(),
        _ => None,
    }
}

/// A float value (f32 or f64).
pub(crate) fn float(v: &Value) -> Option<f64> {
    match *v {
        Value::F32(x) => Some(x.into()),
        Value::F64(x) => Some(x),
        _ => None,
    }
}

/// A short description of a value for messages (arrays by length).
pub(crate) fn describe(v: &Value) -> String {
    match v {
        Value::Array(a) => format!("an array of {} values", a.len()),
        Value::String(s) => format!("{s:?}"),
        other => format!("{other:?}"),
    }
}

/// For tests and fuzzing: a GGUF file in memory from metadata and f32 tensors.
pub fn write_f32_gguf(
    metadata: &[(String, Value)],
    tensors: &[(String, Vec<usize>, Vec<f32>)],
) -> Result<Vec<u8>> {
    use candle_core::quantized::{GgmlDType, QTensor};
    let device = candle_core::Device::Cpu;
    let q = tensors
        .iter()
        .map(|(name, shape, data)| {
            let t = candle_core::Tensor::from_slice(data, shape.as_slice(), &device)?;
            Ok((name.as_str(), QTensor::quantize(&t, GgmlDType::F32)?))
        })
        .collect::<Result<Vec<_>>>()?;
    let md: Vec<(&str, &Value)> = metadata.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let qt: Vec<(&str, &QTensor)> = q.iter().map(|(n, t)| (*n, t)).collect();
    let mut out = std::io::Cursor::new(Vec::new());
    gguf_file::write(&mut out, &md, &qt)?;
    Ok(out.into_inner())
}
