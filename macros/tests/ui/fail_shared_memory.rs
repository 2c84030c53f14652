// A lookup table for 512-token tiles with three pipeline stages needs 243 KB of shared memory.
#[vecinfer_macros::vq_attention(head_dim = 128, group = 4, k = "d4b8", v = "d4b8", scoring = "lut", tile = 512, stages = 3)]
pub struct Decode;

fn main() {}
