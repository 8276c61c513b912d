//! A tiny seeded random number generator (splitmix64) for backoff jitter, container ids and
//! status-update uuids. Components draw no ambient randomness: the seed comes from config.

use proto::StatusUuid;

/// A deterministic generator: the same seed gives the same sequence.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A float uniformly drawn from `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A version-4-shaped uuid.
    pub fn uuid(&mut self) -> StatusUuid {
        let mut v = ((self.next_u64() as u128) << 64) | self.next_u64() as u128;
        // Set version 4 and the RFC 4122 variant so it looks like every other uuid.
        v = (v & !(0xF << 76)) | (0x4 << 76);
        v = (v & !(0x3 << 62)) | (0x2 << 62);
        StatusUuid::from_u128(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_and_uuid_shaped() {
        let (mut a, mut b) = (Rng::new(7), Rng::new(7));
        assert_eq!(a.next_u64(), b.next_u64());
        let u = a.uuid().to_string();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        for _ in 0..1000 {
            let x = a.unit();
            assert!((0.0..1.0).contains(&x));
        }
    }
}
