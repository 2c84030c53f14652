#[vecinfer_macros::vq_attention(head_dim = 128, group = 4, k = "d3b8", v = "d4b8")]
pub struct Decode;

fn main() {}
