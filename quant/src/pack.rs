//! Tight bit-packing of codes. The GPU kernels read this layout directly.
//!
//! Layout of one packed head vector (`M = head_dim / d` codes of `b` bits each):
//! - the row is `ceil(M * b / 8)` bytes (always a whole number of bytes for the supported
//!   codecs, since `M >= 8`);
//! - code `m` occupies the little-endian bit range `[m*b, (m+1)*b)` of the row: bit `i` of the
//!   code is bit `(m*b + i) % 8` of byte `(m*b + i) / 8`;
//! - for `b = 8` this is one byte per code; for `b = 12` two codes share three bytes.
//!
//! In a cache, rows are stored token after token for one (sequence, KV head), so a tile of
//! `T` tokens is `T * row` contiguous bytes.

/// Bytes needed for `codes` codes of `bits` bits.
pub fn packed_len(codes: usize, bits: u32) -> usize {
    (codes * bits as usize).div_ceil(8)
}

/// Packs `codes` (each `< 2^bits`) into `out`, which must be `packed_len` bytes.
pub fn pack_codes(codes: &[u16], bits: u32, out: &mut [u8]) {
    debug_assert_eq!(out.len(), packed_len(codes.len(), bits));
    out.fill(0);
    let mut bit = 0usize;
    for &code in codes {
        debug_assert!((code as u32) < (1 << bits));
        let mut value = code as u32;
        let mut remaining = bits as usize;
        while remaining > 0 {
            let byte = bit / 8;
            let offset = bit % 8;
            let take = remaining.min(8 - offset);
            out[byte] |= ((value & ((1 << take) - 1)) << offset) as u8;
            value >>= take;
            bit += take;
            remaining -= take;
        }
    }
}

/// Reads code `index` from a packed row.
#[inline]
pub fn unpack_code(row: &[u8], bits: u32, index: usize) -> u16 {
    let start = index * bits as usize;
    let byte = start / 8;
    let offset = start % 8;
    // A 12-bit code at offset <= 7 spans at most 3 bytes.
    let mut window = 0u32;
    for i in 0..3 {
        if let Some(&b) = row.get(byte + i) {
            window |= (b as u32) << (8 * i);
        }
    }
    ((window >> offset) & ((1 << bits) - 1)) as u16
}

/// Unpacks every code of a row.
pub fn unpack_codes(row: &[u8], bits: u32, out: &mut [u16]) {
    for (m, c) in out.iter_mut().enumerate() {
        *c = unpack_code(row, bits, m);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};

    #[test]
    fn round_trip_every_bit_width() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        for bits in 8..=12u32 {
            for codes_len in [8usize, 16, 32, 64] {
                let codes: Vec<u16> = (0..codes_len)
                    .map(|_| rng.random_range(0..(1u32 << bits)) as u16)
                    .collect();
                let mut row = vec![0u8; packed_len(codes_len, bits)];
                pack_codes(&codes, bits, &mut row);
                let mut back = vec![0u16; codes_len];
                unpack_codes(&row, bits, &mut back);
                assert_eq!(codes, back, "bits {bits} len {codes_len}");
            }
        }
    }

    #[test]
    fn documented_layout_for_12_bits() {
        // codes 0xABC, 0x123 -> bytes BC, 3A, 12 (little-endian bit stream)
        let mut row = [0u8; 3];
        pack_codes(&[0xABC, 0x123], 12, &mut row);
        assert_eq!(row, [0xBC, 0x3A, 0x12]);
    }

    #[test]
    fn extremes_survive() {
        for bits in 8..=12u32 {
            let max = ((1u32 << bits) - 1) as u16;
            let codes = vec![max, 0, max, 0, 0, max, max, 0];
            let mut row = vec![0u8; packed_len(8, bits)];
            pack_codes(&codes, bits, &mut row);
            let mut back = vec![0u16; 8];
            unpack_codes(&row, bits, &mut back);
            assert_eq!(codes, back);
        }
    }
}
