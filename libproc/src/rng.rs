//! The one seeded random number generator (SplitMix64) for backoff jitter, ids, uuids and
//! shuffles, shared by the master, the agent and the drivers. Components draw no ambient
//! randomness: the seed comes from their configuration (binaries seed from the clock and
//! their OS pid; tests pick a constant), so a run is reproducible. Not for cryptography.

/// SplitMix64: small, fast, and good enough for ids and jitter. The same seed gives the
/// same sequence.
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

    /// A float uniformly drawn from `[0, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// 16 random bytes shaped as a version-4 UUID (RFC 4122 variant), big-endian: wrap
    /// them in `proto::StatusUuid::from_bytes`.
    pub fn uuid_bytes(&mut self) -> [u8; 16] {
        let hi = self.next_u64();
        let lo = self.next_u64();
        let mut b = (((hi as u128) << 64) | lo as u128).to_be_bytes();
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        b
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
    fn same_seed_same_sequence() {
        let (mut a, mut b) = (SplitMix64::new(7), SplitMix64::new(7));
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
        assert_ne!(SplitMix64::new(1).next_u64(), SplitMix64::new(2).next_u64());
    }

    #[test]
    fn splitmix64_reference_values() {
        // The first outputs for seed 0 (Vigna's reference implementation).
        let mut r = SplitMix64::new(0);
        assert_eq!(r.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(r.next_u64(), 0x6E78_9E6A_A1B9_65F4);
    }

    #[test]
    fn floats_are_in_the_unit_interval() {
        let mut r = SplitMix64::new(3);
        for _ in 0..1000 {
            assert!((0.0..1.0).contains(&r.next_f64()));
        }
    }

    #[test]
    fn uuids_are_version_4_and_differ() {
        let mut r = SplitMix64::new(7);
        let (u1, u2) = (r.uuid_bytes(), r.uuid_bytes());
        assert_ne!(u1, u2);
        for u in [u1, u2] {
            assert_eq!(u[6] >> 4, 4, "version");
            assert_eq!(u[8] >> 6, 0b10, "variant");
        }
    }

    #[test]
    fn text_hashes_differ() {
        assert_ne!(hash_str(1, "e1"), hash_str(1, "e2"));
        assert_ne!(hash_str(1, "e1"), hash_str(2, "e1"));
    }
}
