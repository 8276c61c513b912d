//! The fetcher cache's bookkeeping, as a pure structure (no files): which `(user, uri)`
//! has a cache file, how big it is, when it was last used, and whether it is in use. It
//! admits a new file only if it fits in the capacity (`--fetcher_cache_size`), evicting
//! the least recently used files that are not in use; a file that cannot fit is not
//! cached (the fetch bypasses the cache, as Mesos falls back). The caller does the file
//! work its answers ask for (deleting evicted files, renaming the new one).

use std::collections::HashMap;

/// What a cache file is for: one URI as one user (`None`: the agent's user). The same
/// URI for two users is two files, as in Mesos.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey {
    /// The task's user.
    pub user: Option<String>,
    /// The URI.
    pub uri: String,
}

#[derive(Debug, Clone)]
struct Entry {
    file: String,
    size: u64,
    last_used: u64,
    pins: u32,
}

/// The answer to [`Cache::admit`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// Stored (and pinned) under `file`; delete the `evicted` files first.
    Stored {
        /// The cache file name (relative to the cache directory).
        file: String,
        /// Files evicted to make room.
        evicted: Vec<String>,
    },
    /// It does not fit, even after evicting every file not in use.
    NoRoom,
}

/// The cache's bookkeeping.
#[derive(Debug, Clone)]
pub struct Cache {
    capacity: u64,
    used: u64,
    clock: u64,
    next_file: u64,
    entries: HashMap<CacheKey, Entry>,
}

impl Cache {
    /// An empty cache holding at most `capacity` bytes.
    pub fn new(capacity: u64) -> Cache {
        Cache {
            capacity,
            used: 0,
            clock: 0,
            next_file: 0,
            entries: HashMap::new(),
        }
    }

    /// Bytes held.
    pub fn used(&self) -> u64 {
        self.used
    }

    /// Number of cache files.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    /// A fresh name for a file being downloaded into the cache directory.
    pub fn temp_name(&mut self) -> String {
        self.next_file += 1;
        format!("download-{}", self.next_file)
    }

    /// The cache file for `key`, if cached: it is marked used now and pinned (not
    /// evictable) until [`Cache::unpin`].
    pub fn get(&mut self, key: &CacheKey) -> Option<String> {
        let now = self.tick();
        let e = self.entries.get_mut(key)?;
        e.last_used = now;
        e.pins += 1;
        Some(e.file.clone())
    }

    /// Done using `key`'s file.
    pub fn unpin(&mut self, key: &CacheKey) {
        if let Some(e) = self.entries.get_mut(key) {
            e.pins = e.pins.saturating_sub(1);
        }
    }

    /// Forgets `key` (its file went missing or is unusable); returns its file name.
    pub fn remove(&mut self, key: &CacheKey) -> Option<String> {
        let e = self.entries.remove(key)?;
        self.used -= e.size;
        Some(e.file)
    }

    /// Admits a downloaded file of `size` bytes for `key` (replacing an older one),
    /// evicting least recently used files not in use if needed. The new file is pinned.
    pub fn admit(&mut self, key: CacheKey, size: u64) -> Admission {
        if size > self.capacity {
            return Admission::NoRoom;
        }
        let old = self.entries.get(&key).map(|e| (e.pins, e.size));
        if old.is_some_and(|(pins, _)| pins > 0) {
            return Admission::NoRoom;
        }
        let reclaimed = old.map_or(0, |(_, size)| size);
        let need = (self.used - reclaimed + size).saturating_sub(self.capacity);
        let mut victims = vec![];
        if need > 0 {
            let mut idle: Vec<(&CacheKey, &Entry)> = self
                .entries
                .iter()
                .filter(|(k, e)| e.pins == 0 && **k != key)
                .collect();
            idle.sort_by_key(|(_, e)| e.last_used);
            let mut freed = 0;
            for (k, e) in idle {
                if freed >= need {
                    break;
                }
                freed += e.size;
                victims.push(k.clone());
            }
            if freed < need {
                return Admission::NoRoom;
            }
        }
        let mut evicted: Vec<String> = self.remove(&key).into_iter().collect();
        for k in victims {
            evicted.extend(self.remove(&k));
        }
        self.next_file += 1;
        let file = format!("c{}", self.next_file);
        let now = self.tick();
        self.used += size;
        self.entries.insert(
            key,
            Entry {
                file: file.clone(),
                size,
                last_used: now,
                pins: 1,
            },
        );
        Admission::Stored { file, evicted }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(user: Option<&str>, uri: &str) -> CacheKey {
        CacheKey {
            user: user.map(str::to_string),
            uri: uri.into(),
        }
    }

    fn stored(a: Admission) -> (String, Vec<String>) {
        match a {
            Admission::Stored { file, evicted } => (file, evicted),
            Admission::NoRoom => panic!("expected it stored"),
        }
    }

    #[test]
    fn a_cached_uri_is_found_per_user() {
        let mut c = Cache::new(100);
        let (file, evicted) = stored(c.admit(key(Some("a"), "u"), 10));
        assert!(evicted.is_empty());
        c.unpin(&key(Some("a"), "u"));
        assert_eq!(c.get(&key(Some("a"), "u")), Some(file));
        assert_eq!(
            c.get(&key(Some("b"), "u")),
            None,
            "another user's copy is separate"
        );
        assert_eq!(c.get(&key(None, "u")), None);
        assert_eq!(c.used(), 10);
    }

    #[test]
    fn least_recently_used_idle_files_are_evicted_to_make_room() {
        let mut c = Cache::new(30);
        let (a, _) = stored(c.admit(key(None, "a"), 10));
        let (b, _) = stored(c.admit(key(None, "b"), 10));
        let (_, _) = stored(c.admit(key(None, "c"), 10));
        for k in ["a", "b", "c"] {
            c.unpin(&key(None, k));
        }
        // a is used again: b is now the least recently used.
        assert_eq!(c.get(&key(None, "a")), Some(a.clone()));
        c.unpin(&key(None, "a"));
        let (_, evicted) = stored(c.admit(key(None, "d"), 10));
        assert_eq!(evicted, vec![b]);
        assert_eq!(c.get(&key(None, "b")), None);
        assert_eq!(c.used(), 30);
        assert_eq!(c.len(), 3);
    }

    #[test]
    fn files_in_use_are_never_evicted_and_what_cannot_fit_is_not_cached() {
        let mut c = Cache::new(20);
        stored(c.admit(key(None, "a"), 15)); // still pinned
        assert_eq!(c.admit(key(None, "b"), 10), Admission::NoRoom);
        assert_eq!(c.admit(key(None, "huge"), 21), Admission::NoRoom);
        c.unpin(&key(None, "a"));
        let (_, evicted) = stored(c.admit(key(None, "b"), 10));
        assert_eq!(evicted.len(), 1);
        assert_eq!(c.used(), 10);
    }

    #[test]
    fn forgetting_a_file_frees_its_space() {
        let mut c = Cache::new(20);
        let (f, _) = stored(c.admit(key(None, "a"), 15));
        assert_eq!(c.remove(&key(None, "a")), Some(f));
        assert_eq!(c.used(), 0);
        assert!(c.is_empty());
    }

    proptest! {
        /// Whatever happens, the bytes held never exceed the capacity and equal the sum
        /// of the entries.
        #[test]
        fn never_over_capacity(ops in proptest::collection::vec((0u8..3, 0u8..6, 0u64..40), 1..60)) {
            let mut c = Cache::new(50);
            for (op, k, size) in ops {
                let k = key(None, &k.to_string());
                match op {
                    0 => { let _ = c.admit(k, size); }
                    1 => { let _ = c.get(&k); }
                    _ => c.unpin(&k),
                }
                prop_assert!(c.used() <= 50);
                prop_assert_eq!(c.used(), c.entries.values().map(|e| e.size).sum::<u64>());
            }
        }
    }
}
