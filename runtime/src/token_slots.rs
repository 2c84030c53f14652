//! [`TokenSlots`]: a cache's fp16 slots as the target of a projection kernel that writes a
//! decode step's new K and V into the cache itself, instead of a separate append launch per
//! layer (the engine's QKV kernels take it; `forward.cuh` has the kernel side).

use crate::error::{Result, RuntimeError};
use cudarc::driver::{CudaStream, CudaView, CudaViewMut, DevicePtr, DevicePtrMut, SyncOnDrop, sys};

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
}

impl SlotShape {
    /// Elements each of the key and value buffers holds, `[slots, kv_heads, capacity,
    /// head_dim]`, or `None` past `usize`.
    pub fn elements(&self) -> Option<usize> {
        self.slots
            .checked_mul(self.kv_heads)?
            .checked_mul(self.capacity)?
            .checked_mul(self.head_dim)
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
/// the shape (and clamps the slot it reads from the table, as `forward.cuh` does) stays
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
                    expected: format!(
                        "at least slots × kv_heads × capacity × head_dim = {} × {} × {} × {} = {elements}",
                        shape.slots, shape.kv_heads, shape.capacity, shape.head_dim
                    ),
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
    use super::SlotShape;

    fn shape(slots: usize, capacity: usize) -> SlotShape {
        SlotShape {
            slots,
            kv_heads: 1,
            capacity,
            head_dim: 64,
            sinks: 0,
            residual: 0,
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
}
