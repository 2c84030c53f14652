#[vecinfer_macros::vq_attention(head_dim = 96, group = 4, k = "d4b8", v = "d4b8")]
pub struct Decode;

fn main() {}
