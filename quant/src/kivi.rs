//! KIVI-2, the scalar baseline: 2-bit asymmetric quantization with fp16 scale and zero point,
//! keys per channel over groups of 32 tokens, values per token over groups of 32 channels.

use half::f16;

pub const GROUP: usize = 32;
pub const BITS: u32 = 2;

/// Effective bits per element: 2 for the codes plus an fp16 scale and zero per 32 elements.
pub fn bits_per_element() -> f64 {
    BITS as f64 + 32.0 / GROUP as f64
}

/// Quantizes then dequantizes `values` (a group) in place, asymmetric with `2^BITS` levels.
fn round_trip_group(values: &mut [f32]) {
    round_trip_strided(values, 0, 1, values.len());
}

fn round_trip_strided(data: &mut [f32], start: usize, stride: usize, count: usize) {
    let levels = ((1u32 << BITS) - 1) as f32;
    let at = |i: usize| start + i * stride;
    let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
    for i in 0..count {
        lo = lo.min(data[at(i)]);
        hi = hi.max(data[at(i)]);
    }
    // Scale and zero are stored in fp16, as in KIVI.
    let zero = f16::from_f32(lo).to_f32();
    let scale = f16::from_f32((hi - lo) / levels).to_f32();
    for i in 0..count {
        let x = &mut data[at(i)];
        *x = if scale > 0.0 {
            ((*x - zero) / scale).round().clamp(0.0, levels) * scale + zero
        } else {
            zero
        };
    }
}

/// Keys of one head, row-major `[tokens, head_dim]`: per channel, over each complete group of
/// 32 tokens. A trailing incomplete group stays in full precision (it is in the residual window).
pub fn round_trip_keys(keys: &mut [f32], head_dim: usize) {
    let tokens = keys.len() / head_dim;
    for group in 0..tokens / GROUP {
        for channel in 0..head_dim {
            round_trip_strided(keys, group * GROUP * head_dim + channel, head_dim, GROUP);
        }
    }
}

/// Values of one head, row-major `[tokens, head_dim]`: per token, over groups of 32 channels.
pub fn round_trip_values(values: &mut [f32], head_dim: usize) {
    let group = GROUP.min(head_dim);
    for chunk in values.chunks_exact_mut(group) {
        round_trip_group(chunk);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn four_levels_reproduced_exactly() {
        let mut v: Vec<f32> = (0..32).map(|i| (i % 4) as f32).collect();
        let orig = v.clone();
        round_trip_values(&mut v, 32);
        assert_eq!(v, orig);
    }

    #[test]
    fn error_bounded_by_half_a_step() {
        let mut v: Vec<f32> = (0..64).map(|i| (i as f32 * 0.37).sin()).collect();
        let orig = v.clone();
        round_trip_values(&mut v, 64);
        for (a, b) in orig.chunks(32).zip(v.chunks(32)) {
            let step = (a.iter().cloned().fold(f32::MIN, f32::max)
                - a.iter().cloned().fold(f32::MAX, f32::min))
                / 3.0;
            for (x, y) in a.iter().zip(b) {
                assert!((x - y).abs() <= step * 0.5 + 1e-3);
            }
        }
    }

    #[test]
    fn keys_group_over_tokens_and_leave_the_tail() {
        let d = 4;
        let mut k: Vec<f32> = (0..40 * d).map(|i| (i as f32 * 0.11).cos()).collect();
        let orig = k.clone();
        round_trip_keys(&mut k, d);
        assert_ne!(k[..32 * d], orig[..32 * d]);
        assert_eq!(k[32 * d..], orig[32 * d..]);
    }
}
