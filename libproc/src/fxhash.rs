//! A small, fast, non-cryptographic hasher (the "Fx" hash rustc uses) for the runtime's
//! internal tables keyed by process ids and message names. Not for tables keyed by
//! untrusted input that an attacker could use to force collisions at scale; ids and names
//! come from the node's own processes and from a bounded per-connection cache.
//!
//! Unlike `std`'s randomly keyed maps, an Fx map iterates in the same order in every
//! process and on every thread. The seeded simulation (`cluster::sim`) replays a seed
//! exactly only if every table it reaches that is iterated to make a decision (which
//! framework or agent goes first, which connection is closed) uses it.

use std::hash::{BuildHasherDefault, Hasher};

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

/// The Fx hasher.
#[derive(Default, Clone, Copy)]
pub struct FxHasher {
    hash: u64,
}

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w));
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(i as u64);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

/// Builds [`FxHasher`]s.
pub type FxBuild = BuildHasherDefault<FxHasher>;
/// A `HashMap` with the Fx hash.
pub type FxHashMap<K, V> = std::collections::HashMap<K, V, FxBuild>;
/// A `HashSet` with the Fx hash.
pub type FxHashSet<K> = std::collections::HashSet<K, FxBuild>;
