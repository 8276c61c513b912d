//! A tiny seeded generator (SplitMix64) for ids, uuids and backoff jitter.
//!
//! The drivers never read ambient randomness: the caller hands in a seed (binaries seed from
//! the clock and their OS pid; tests pick a constant), so a run is reproducible.

use proto::StatusUuid;

/// SplitMix64: small, fast, and good enough for ids and jitter (not for cryptography).
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator starting from `seed`.
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64 { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A float in `[0, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// 16 random bytes shaped as a version-4 UUID.
    pub fn next_uuid(&mut self) -> StatusUuid {
        let hi = self.next_u64();
        let lo = self.next_u64();
        let mut b = (((hi as u128) << 64) | lo as u128).to_be_bytes();
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        StatusUuid::from_bytes(b)
    }
}

/// FNV-1a over some text: mixes ids into a seed.
pub fn hash_str(seed: u64, text: &str) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64 ^ seed;
    for b in text.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01B3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence_and_uuids_differ() {
        let mut a = SplitMix64::new(7);
        let mut b = SplitMix64::new(7);
        assert_eq!(a.next_u64(), b.next_u64());
        let u1 = a.next_uuid();
        let u2 = a.next_uuid();
        assert_ne!(u1, u2);
        assert_eq!(u1.to_string().as_bytes()[14], b'4');
        let f = a.next_f64();
        assert!((0.0..1.0).contains(&f));
        assert_ne!(hash_str(1, "e1"), hash_str(1, "e2"));
    }
}
