//! [`TokenSlots`]: a cache's slots (fp16 or int8 rows) as the target of a projection kernel
//! that writes a decode step's new K and V into the cache itself, instead of a separate append
//! launch per layer (the engine's QKV kernels take it; `qkv_slots.cuh` has the kernel side).

use crate::error::{Result, RuntimeError};
use cudarc::driver::{CudaStream, CudaView, CudaViewMut, DevicePtr, DevicePtrMut, SyncOnDrop, sys};
use vecinfer_quant::WindowPrecision;

/// Where the token at position `p` of a sequence goes: slot index `p` while `p < sinks`, else
/// `sinks + (p - sinks) % residual` (`residual` 0: no slot, the token is not written), in the
/// sequence slot `seq_slot[entry]` (no table: the batch entry itself).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlotShape {
    /// Sequence slots the buffers hold.
    pub slots: usize,
    pub kv_heads: usize,
    /// Token slots per (sequence slot, KV head).
    pub capacity: usize,
    pub head_dim: usize,
    pub sinks: usize,
    pub residual: usize,
    /// How a row is held: `head_dim` halves, or `head_dim` int8 codes with an fp16 scale
    /// (`slot_rows`' layout: the scales after the last row).
    pub precision: WindowPrecision,
}

impl SlotShape {
    /// 16-bit words each of the key and value buffers holds: `[slots, kv_heads, capacity]`
    /// rows, and their scales where they have them; `None` past `usize`.
    pub fn elements(&self) -> Option<usize> {
        let rows = self
            .slots
            .checked_mul(self.kv_heads)?
            .checked_mul(self.capacity)?;
        match self.precision {
            WindowPrecision::Fp16 => rows.checked_mul(self.head_dim),
            // As `SlotLayout::len`, checked.
            WindowPrecision::Int8 => rows
                .checked_mul(self.head_dim / 2)?
                .checked_add(rows.checked_next_multiple_of(2)?),
        }
    }

    /// The shape's own rules: every count at least one and within the kernels' 32-bit
    /// indices, and the sinks and ring within the token slots.
    fn check(&self) -> Result<usize> {
        let invalid = |why: String| {
            Err(RuntimeError::Invalid(format!(
                "token slots {self:?}: {why}"
            )))
        };
        let counts = [self.slots, self.kv_heads, self.capacity, self.head_dim];
        if counts.contains(&0) {
            return invalid(
                "need at least one sequence slot, KV head, token slot and dimension".into(),
            );
        }
        let fits = |x: usize| i32::try_from(x).is_ok();
        if !counts
            .into_iter()
            .chain([self.sinks, self.residual])
            .all(fits)
        {
            return invalid("a count does not fit the kernels' 32-bit indices".into());
        }
        // Both fit i32, so the sum fits usize.
        if self.sinks.min(self.capacity) + self.residual > self.capacity {
            return invalid(format!(
                "{} sinks and a ring of {} do not fit {} token slots",
                self.sinks, self.residual, self.capacity
            ));
        }
        if self.precision == WindowPrecision::Int8 && !self.head_dim.is_multiple_of(2) {
            return invalid(
                "int8 rows hold their codes two a word: the head dim must be even".into(),
            );
        }
        match self.elements() {
            Some(n) => Ok(n),
            None => invalid("the buffers' element count overflows".into()),
        }
    }
}

/// A cache's fp16 key and value slots, borrowed for the launches of one step: the borrow keeps
/// the buffers alive and unaliased while a kernel may write them. Built only by
/// [`TokenSlots::new`], which checks that the buffers hold what the shape says, and nothing
/// hands the buffers out again (only their addresses, to a launch), so a kernel that follows
/// the shape (and clamps the slot it reads from the table, as `qkv_slots.cuh` does) stays
/// inside them.
pub struct TokenSlots<'a> {
    keys: CudaViewMut<'a, u16>,
    values: CudaViewMut<'a, u16>,
    seq_slot: Option<CudaView<'a, i32>>,
    shape: SlotShape,
}

/// The device addresses of [`TokenSlots`] for one launch, with cudarc's guards.
pub struct SlotPointers<'s> {
    pub keys: (sys::CUdeviceptr, SyncOnDrop<'s>),
    pub values: (sys::CUdeviceptr, SyncOnDrop<'s>),
    pub seq_slot: Option<(sys::CUdeviceptr, SyncOnDrop<'s>)>,
}

impl<'a> TokenSlots<'a> {
    pub fn new(
        keys: CudaViewMut<'a, u16>,
        values: CudaViewMut<'a, u16>,
        seq_slot: Option<CudaView<'a, i32>>,
        shape: SlotShape,
    ) -> Result<Self> {
        let elements = shape.check()?;
        for (what, buffer) in [("slot keys", keys.len()), ("slot values", values.len())] {
            if buffer < elements {
                return Err(RuntimeError::BufferLength {
                    what,
                    expected: match shape.precision {
                        WindowPrecision::Fp16 => format!(
                            "at least slots × kv_heads × capacity × head_dim = {} × {} × {} × {} = {elements} halves",
                            shape.slots, shape.kv_heads, shape.capacity, shape.head_dim
                        ),
                        WindowPrecision::Int8 => format!(
                            "at least {elements} words: slots × kv_heads × capacity = {} × {} × {} int8 rows of head_dim / 2 = {} words, then one fp16 scale a row (padded to an even count)",
                            shape.slots,
                            shape.kv_heads,
                            shape.capacity,
                            shape.head_dim / 2
                        ),
                    },
                    got: buffer,
                });
            }
        }
        Ok(Self {
            keys,
            values,
            seq_slot,
            shape,
        })
    }

    pub fn shape(&self) -> SlotShape {
        self.shape
    }

    /// Entries of the sequence-slot table, or `None` where the entry is its own slot.
    pub fn table_len(&self) -> Option<usize> {
        self.seq_slot.as_ref().map(|t| t.len())
    }

    /// The addresses a launch passes: keys, values and the slot table.
    pub fn device_ptrs<'s>(&'s mut self, stream: &'s CudaStream) -> SlotPointers<'s> {
        SlotPointers {
            keys: self.keys.device_ptr_mut(stream),
            values: self.values.device_ptr_mut(stream),
            seq_slot: self.seq_slot.as_ref().map(|t| t.device_ptr(stream)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{SlotShape, WindowPrecision};

    fn shape(slots: usize, capacity: usize) -> SlotShape {
        SlotShape {
            slots,
            kv_heads: 1,
            capacity,
            head_dim: 64,
            sinks: 0,
            residual: 0,
            precision: WindowPrecision::Fp16,
        }
    }

    #[test]
    fn shapes_that_overflow_or_do_not_fit_are_refused() {
        // 2^30 × 2^30 × 64 wraps a 64-bit count to zero: refused, not a zero-length need.
        let huge = shape(1 << 30, 1 << 30);
        assert!(huge.check().is_err());
        assert!(shape(1 << 31, 1).check().is_err(), "past i32");
        assert!(shape(0, 8).check().is_err());
        let ring = SlotShape {
            sinks: 4,
            residual: 5,
            ..shape(2, 8)
        };
        assert!(ring.check().is_err(), "4 sinks + a ring of 5 in 8 slots");
        let max = SlotShape {
            sinks: usize::MAX,
            residual: usize::MAX,
            ..shape(2, 8)
        };
        assert!(max.check().is_err(), "no overflow on the way to the error");
        assert_eq!(shape(3, 8).check().unwrap(), 3 * 8 * 64);
    }

    #[test]
    fn int8_rows_take_half_the_words_and_their_scales() {
        let int8 = |slots, capacity| SlotShape {
            precision: WindowPrecision::Int8,
            ..shape(slots, capacity)
        };
        // 24 rows of 32 words, then 24 scales.
        assert_eq!(int8(3, 8).check().unwrap(), 3 * 8 * 32 + 24);
        // 5 rows: the scales padded to 6, whole 32-bit words (as slot_rows lays them out).
        assert_eq!(int8(1, 5).check().unwrap(), 5 * 32 + 6);
        let odd = SlotShape {
            head_dim: 63,
            ..int8(1, 5)
        };
        assert!(odd.check().is_err(), "int8 codes go two a word");
        assert!(int8(1 << 30, 1 << 30).check().is_err());
    }
}
