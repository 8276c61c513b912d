//! Scalar quantities indexed by interned resource name: the numbers DRF shares, quota
//! consumption and headroom are computed from (no ranges, sets or reservations).

use libproc::fxhash::FxHashMap;

use proto::{Resource, Resources, Scalar, Value};

/// Interns scalar resource names (`cpus`, `mem`, ...) to small indices.
#[derive(Debug, Default, Clone)]
pub struct Names {
    names: Vec<String>,
    index: FxHashMap<String, usize>,
}

impl Names {
    /// The index of `name`, interning it if new.
    pub fn intern(&mut self, name: &str) -> usize {
        if let Some(i) = self.index.get(name) {
            return *i;
        }
        let i = self.names.len();
        self.names.push(name.to_owned());
        self.index.insert(name.to_owned(), i);
        i
    }

    /// The index of `name` if interned.
    pub fn get(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    /// The name at `i`.
    pub fn name(&self, i: usize) -> &str {
        self.names.get(i).map(String::as_str).unwrap_or("")
    }

    /// Number of interned names.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// True if nothing is interned.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Interns every scalar name in `r` and returns their indices (sorted, deduplicated).
    pub fn scalar_names_of(&mut self, r: &Resources) -> Vec<usize> {
        let mut out: Vec<usize> = r
            .iter()
            .filter(|x| matches!(x.value, Value::Scalar(_)))
            .map(|x| self.intern(&x.name))
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }
}

/// Amounts of scalar resources by interned name index (missing entries are zero). The
/// first four names (`cpus`, `mem`, `disk`, `gpus`, interned first) live inline.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Quantities {
    fast: [f64; 4],
    rest: Vec<f64>,
}

/// Amounts below this are treated as zero (Mesos scalars have milli precision).
const EPS: f64 = 1e-6;

impl Quantities {
    /// No resources.
    pub fn new() -> Self {
        Quantities::default()
    }

    /// The amount at name index `i`.
    pub fn get(&self, i: usize) -> f64 {
        if i < 4 {
            self.fast[i]
        } else {
            self.rest.get(i - 4).copied().unwrap_or(0.0)
        }
    }

    /// Sets the amount at `i`.
    pub fn set(&mut self, i: usize, v: f64) {
        if i < 4 {
            self.fast[i] = v;
            return;
        }
        let j = i - 4;
        if self.rest.len() <= j {
            self.rest.resize(j + 1, 0.0);
        }
        self.rest[j] = v;
    }

    /// Adds `v` at `i`.
    pub fn add_at(&mut self, i: usize, v: f64) {
        let cur = self.get(i);
        self.set(i, cur + v);
    }

    /// Adds `other` entry-wise.
    pub fn add(&mut self, other: &Quantities) {
        for (a, b) in self.fast.iter_mut().zip(other.fast.iter()) {
            *a += *b;
        }
        if self.rest.len() < other.rest.len() {
            self.rest.resize(other.rest.len(), 0.0);
        }
        for (a, b) in self.rest.iter_mut().zip(other.rest.iter()) {
            *a += *b;
        }
    }

    /// Subtracts `other` entry-wise, never going below zero.
    pub fn sub(&mut self, other: &Quantities) {
        let sub = |a: &mut f64, b: &f64| {
            *a -= *b;
            if *a < EPS {
                *a = 0.0;
            }
        };
        for (a, b) in self.fast.iter_mut().zip(other.fast.iter()) {
            sub(a, b);
        }
        for (a, b) in self.rest.iter_mut().zip(other.rest.iter()) {
            sub(a, b);
        }
    }

    fn values(&self) -> impl Iterator<Item = (usize, f64)> + '_ {
        self.fast.iter().copied().enumerate().chain(
            self.rest
                .iter()
                .copied()
                .enumerate()
                .map(|(j, v)| (j + 4, v)),
        )
    }

    /// True if every amount is (about) zero.
    pub fn is_zero(&self) -> bool {
        self.values().all(|(_, v)| v < EPS)
    }

    /// Iterates over `(index, amount)` for non-zero amounts.
    pub fn iter(&self) -> impl Iterator<Item = (usize, f64)> + '_ {
        self.values().filter(|(_, v)| *v >= EPS)
    }

    /// DRF dominant share: max over names of `self / total` (names with zero total ignored).
    pub fn share(&self, total: &Quantities) -> f64 {
        let mut s: f64 = 0.0;
        for (i, v) in self.values() {
            let t = total.get(i);
            if t > EPS && v > 0.0 {
                s = s.max(v / t);
            }
        }
        s
    }

    /// The scalar amounts of `r` for the given name indices (all reservations summed).
    pub fn of(r: &Resources, names: &Names, idx: &[usize]) -> Quantities {
        let mut q = Quantities::new();
        for &i in idx {
            let v = r.scalar(names.name(i)).as_f64();
            if v > 0.0 {
                q.set(i, v);
            }
        }
        q
    }

    /// Converts named amounts (e.g. a quota) into quantities, interning names.
    pub fn from_resources(r: &Resources, names: &mut Names) -> Quantities {
        let idx = names.scalar_names_of(r);
        Quantities::of(r, names, &idx)
    }

    /// The quantities as Mesos-style resources (unreserved scalars), for display.
    pub fn to_resources(&self, names: &Names) -> Resources {
        let mut r = Resources::new();
        for (i, v) in self.iter() {
            if let Ok(s) = Scalar::from_f64(v) {
                r.push(&Resource::scalar(names.name(i), s));
            }
        }
        r
    }
}

/// The unreserved amount of scalar `name` in `r`.
pub fn unreserved_scalar(r: &Resources, name: &str, has_reservations: bool) -> f64 {
    if has_reservations {
        r.scalar(name).as_f64() - r.all_reserved().scalar(name).as_f64()
    } else {
        r.scalar(name).as_f64()
    }
}

/// The intersection of `a` and `b` (what of `b` is present in `a`).
pub fn intersect(a: &Resources, b: &Resources) -> Resources {
    let rest = a - b;
    a - &rest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn share_and_arith() {
        let mut names = Names::default();
        let total: Resources = "cpus:10;mem:100;ports:[1-10]".parse().unwrap();
        let t = Quantities::from_resources(&total, &mut names);
        let a: Resources = "cpus:1;mem:50".parse().unwrap();
        let q = Quantities::from_resources(&a, &mut names);
        assert!((q.share(&t) - 0.5).abs() < 1e-9);
        let mut z = q.clone();
        z.sub(&q);
        assert!(z.is_zero());
        let i = intersect(&total, &"cpus:20;ports:[5-20]".parse().unwrap());
        assert_eq!(i.to_string(), "cpus:10; ports:[5-10]");
    }
}
