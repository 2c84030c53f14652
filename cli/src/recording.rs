//! An attention backend that shows each layer's Q, K and V to a callback, then attends exactly.

use vecinfer_model::{AttentionBackend, ExactAttention, HeadShape, Result};

pub struct RecordingAttention<F: FnMut(usize, &[f32], &[f32], &[f32], HeadShape)> {
    pub on_layer: F,
}

impl<F: FnMut(usize, &[f32], &[f32], &[f32], HeadShape)> AttentionBackend
    for RecordingAttention<F>
{
    fn attend(
        &mut self,
        layer: usize,
        q: &[f32],
        k: &[f32],
        v: &[f32],
        shape: HeadShape,
    ) -> Result<Vec<f32>> {
        (self.on_layer)(layer, q, k, v, shape);
        ExactAttention.attend(layer, q, k, v, shape)
    }
}
