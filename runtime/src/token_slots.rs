//! [`TokenSlots`]: a cache's fp16 slots as the target of a projection kernel that writes a
//! decode step's new K and V into the cache itself, instead of a separate append launch per
//! layer (the engine's QKV kernels take it; `forward.cuh` has the kernel side).

use crate::error::{Result, RuntimeError};
use cudarc::driver::{CudaSlice, CudaView};

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
    /// Elements each of the key and value buffers holds: `[slots, kv_heads, capacity, head_dim]`.
    pub fn elements(&self) -> usize {
        self.slots * self.kv_heads * self.capacity * self.head_dim
    }
}

/// A cache's fp16 key and value slots, borrowed for the launches of one step: the borrow keeps
/// the buffers alive and unaliased while a kernel may write them. Built only by
/// [`TokenSlots::new`], which checks that the buffers hold what the shape says, so a kernel
/// that follows the shape (and clamps the slot it reads from the table, as `forward.cuh` does)
/// stays inside them.
pub struct TokenSlots<'a> {
    keys: &'a mut CudaSlice<u16>,
    values: &'a mut CudaSlice<u16>,
    seq_slot: Option<CudaView<'a, i32>>,
    shape: SlotShape,
}

/// The parts of [`TokenSlots`] a launch passes on.
pub struct SlotParts<'s, 'a> {
    pub keys: &'s mut CudaSlice<u16>,
    pub values: &'s mut CudaSlice<u16>,
    pub seq_slot: Option<&'s CudaView<'a, i32>>,
    pub shape: SlotShape,
}

impl<'a> TokenSlots<'a> {
    pub fn new(
        keys: &'a mut CudaSlice<u16>,
        values: &'a mut CudaSlice<u16>,
        seq_slot: Option<CudaView<'a, i32>>,
        shape: SlotShape,
    ) -> Result<Self> {
        if shape.slots == 0 || shape.kv_heads == 0 || shape.capacity == 0 || shape.head_dim == 0 {
            return Err(RuntimeError::Invalid(format!(
                "token slots need at least one sequence slot, KV head, token slot and dimension: {shape:?}"
            )));
        }
        if shape.sinks.min(shape.capacity) + shape.residual > shape.capacity {
            return Err(RuntimeError::Invalid(format!(
                "{} sinks and a ring of {} do not fit {} token slots",
                shape.sinks, shape.residual, shape.capacity
            )));
        }
        let fits = |x: usize| i32::try_from(x).is_ok();
        if ![shape.slots, shape.capacity, shape.sinks, shape.residual]
            .into_iter()
            .all(fits)
        {
            return Err(RuntimeError::Invalid(format!(
                "token slots {shape:?} do not fit the kernels' 32-bit indices"
            )));
        }
        let elements = shape.elements();
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

    pub fn parts(&mut self) -> SlotParts<'_, 'a> {
        SlotParts {
            keys: self.keys,
            values: self.values,
            seq_slot: self.seq_slot.as_ref(),
            shape: self.shape,
        }
    }
}
