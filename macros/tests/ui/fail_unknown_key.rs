#[vecinfer_macros::vq_attention(head_dim = 128, group = 4, k = "d4b8", v = "d4b8", tiles = 64)]
pub struct Decode;

fn main() {}
