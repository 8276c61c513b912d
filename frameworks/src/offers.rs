//! Packing tasks into offers: how many tasks of a shape fit, and taking the exact
//! [`Resources`] (ports included) to put in each task's `TaskInfo`.
//!
//! A [`TaskShape`] is what one task needs: scalar quantities (`cpus`, `mem`, `disk`,
//! `gpus`, or any other scalar) and a number of ports. An [`OfferPacker`] holds what is
//! left of an offer for one role: the unreserved resources and those reserved for that
//! role (resources reserved for other roles are never touched). [`OfferPacker::take`]
//! prefers the role's reservations, then unreserved resources, and returns the resources
//! with their reservation kept, as the master requires them in a launch.
//!
//! ```
//! use frameworks::offers::{OfferPacker, TaskShape};
//!
//! let offer: proto::Resources = "cpus:4;mem:1024;ports:[31000-31003]".parse().unwrap();
//! let shape: TaskShape = "cpus:1;mem:256".parse::<TaskShape>().unwrap().with_ports(2);
//! let mut packer = OfferPacker::from_resources(&offer, "*");
//! assert_eq!(packer.fits(&shape), 2); // four ports, two per task
//! let first = packer.take(&shape).unwrap();
//! assert_eq!(first, "cpus:1;mem:256;ports:[31000-31001]".parse().unwrap());
//! assert!(packer.take(&shape).is_some());
//! assert!(packer.take(&shape).is_none());
//! ```

use std::fmt;
use std::str::FromStr;

use proto::value::{Ranges, Scalar, Value};
use proto::{Offer, Resource, Resources};

/// Why a [`TaskShape`] could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShapeError {
    /// The text is not valid Mesos resources syntax.
    #[error("invalid task shape: {0}")]
    Parse(String),
    /// A shape holds scalars only; ranges and sets are asked for another way.
    #[error("task shape '{0}' is not a scalar; ask for ports with TaskShape::with_ports")]
    NotScalar(String),
    /// A shape must ask for something.
    #[error("task shape is empty: ask for cpus and mem at least")]
    Empty,
}

/// What one task needs: scalar quantities and a number of ports.
///
/// Parse it from Mesos resources text (`"cpus:0.5;mem:128"`, reservations are ignored:
/// a shape is a quantity), then add ports with [`TaskShape::with_ports`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskShape {
    /// (name, thousandths), one entry per name, none zero.
    scalars: Vec<(String, i64)>,
    ports: u64,
}

impl TaskShape {
    /// The shape of `resources`' scalars (summed over reservations). Ranges and sets are
    /// refused (use [`TaskShape::with_ports`] for ports), and so is an empty shape.
    pub fn new(resources: &Resources) -> Result<Self, ShapeError> {
        let mut scalars: Vec<(String, i64)> = Vec::new();
        for r in resources.iter() {
            if !matches!(r.value, Value::Scalar(_)) {
                return Err(ShapeError::NotScalar(r.to_string()));
            }
            if !scalars.iter().any(|(n, _)| *n == r.name) {
                let total = resources.scalar(&r.name).milli();
                scalars.push((r.name.clone(), total));
            }
        }
        if scalars.is_empty() {
            return Err(ShapeError::Empty);
        }
        Ok(TaskShape { scalars, ports: 0 })
    }

    /// The same shape asking for `n` ports as well.
    pub fn with_ports(mut self, n: u64) -> Self {
        self.ports = n;
        self
    }

    /// The number of ports asked for.
    pub fn ports(&self) -> u64 {
        self.ports
    }

    /// The scalar quantities asked for, unreserved.
    pub fn scalars(&self) -> Resources {
        let mut out = Resources::new();
        for (name, milli) in &self.scalars {
            out.push(&Resource::scalar(name.clone(), Scalar::from_milli(*milli)));
        }
        out
    }
}

impl FromStr for TaskShape {
    type Err = ShapeError;
    fn from_str(s: &str) -> Result<Self, ShapeError> {
        let r: Resources = s.parse().map_err(|e| ShapeError::Parse(format!("{e}")))?;
        TaskShape::new(&r)
    }
}

impl fmt::Display for TaskShape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.scalars())?;
        if self.ports > 0 {
            write!(f, "; ports:{}", self.ports)?;
        }
        Ok(())
    }
}

/// What is left of an offer for one role, to pack tasks into.
#[derive(Debug, Clone)]
pub struct OfferPacker {
    role: String,
    remaining: Resources,
}

impl OfferPacker {
    /// Packs into `offer` for `role` (the framework's role, `"*"` for none).
    pub fn new(offer: &Offer, role: &str) -> Self {
        Self::from_resources(&offer.resources, role)
    }

    /// Packs into `resources` for `role`: only unreserved resources and those reserved
    /// for exactly `role` are used.
    pub fn from_resources(resources: &Resources, role: &str) -> Self {
        OfferPacker {
            role: role.to_owned(),
            remaining: resources.allocatable_to(role),
        }
    }

    /// What is still free.
    pub fn remaining(&self) -> &Resources {
        &self.remaining
    }

    fn reserved(&self) -> Resources {
        if self.role == proto::resources::UNRESERVED_ROLE {
            Resources::new()
        } else {
            self.remaining.reserved(&self.role)
        }
    }

    /// How many tasks of `shape` still fit.
    pub fn fits(&self, shape: &TaskShape) -> u64 {
        let mut n = u64::MAX;
        for (name, need) in &shape.scalars {
            let have = self.remaining.scalar(name).milli().max(0);
            n = n.min((have / need.max(&1)) as u64);
        }
        if let Some(k) = self.remaining.ports().count().checked_div(shape.ports) {
            n = n.min(k);
        }
        n
    }

    /// Takes one task of `shape`: the resources to put in its `TaskInfo` (the role's
    /// reservations first, then unreserved ones; ports the lowest free), or `None` if
    /// it does not fit (then nothing is taken).
    pub fn take(&mut self, shape: &TaskShape) -> Option<Resources> {
        if self.fits(shape) == 0 {
            return None;
        }
        let reserved = self.reserved();
        let unreserved = self.remaining.unreserved();
        let mut out = Resources::new();
        for (name, need) in &shape.scalars {
            let from_role = reserved.scalar(name).milli().min(*need);
            if from_role > 0 {
                out.push(
                    &Resource::scalar(name.clone(), Scalar::from_milli(from_role))
                        .reserved_for(self.role.clone()),
                );
            }
            let rest = need - from_role;
            if rest > 0 {
                out.push(&Resource::scalar(name.clone(), Scalar::from_milli(rest)));
            }
        }
        let mut ports = shape.ports;
        for (pool, role) in [(&reserved, Some(&self.role)), (&unreserved, None)] {
            let free = pool.ports();
            let here = free.count().min(ports);
            if here == 0 {
                continue;
            }
            let taken: Ranges = free.take(here)?;
            let mut r = Resource::ports(taken);
            if let Some(role) = role {
                r = r.reserved_for(role.clone());
            }
            out.push(&r);
            ports -= here;
        }
        if ports > 0 || !self.remaining.contains(&out) {
            return None;
        }
        self.remaining -= &out;
        Some(out)
    }

    /// Takes as many tasks of `shape` as fit, at most `max`.
    pub fn take_up_to(&mut self, shape: &TaskShape, max: usize) -> Vec<Resources> {
        let mut out = Vec::new();
        while out.len() < max {
            match self.take(shape) {
                Some(r) => out.push(r),
                None => break,
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn res(s: &str) -> Resources {
        s.parse().unwrap()
    }

    #[test]
    fn shapes_refuse_ranges_and_emptiness() {
        assert!(matches!(
            "ports:[1-2]".parse::<TaskShape>(),
            Err(ShapeError::NotScalar(_))
        ));
        assert_eq!("".parse::<TaskShape>(), Err(ShapeError::Empty));
        assert!(matches!(
            "cpus:x".parse::<TaskShape>(),
            Err(ShapeError::Parse(_))
        ));
        let s: TaskShape = "cpus(ads):1;cpus:1;mem:32".parse().unwrap();
        assert_eq!(s.with_ports(1).to_string(), "cpus:2; mem:32; ports:1");
    }

    #[test]
    fn the_roles_reservations_come_first_and_other_roles_are_untouched() {
        let offer = res("cpus:1;cpus(ads):1;cpus(web):8;mem:100;ports(ads):[10-10];ports:[20-29]");
        let shape = "cpus:1.5;mem:10"
            .parse::<TaskShape>()
            .unwrap()
            .with_ports(2);
        let mut p = OfferPacker::from_resources(&offer, "ads");
        assert_eq!(p.fits(&shape), 1, "2 cpus usable: web's 8 are not ours");
        let got = p.take(&shape).unwrap();
        assert_eq!(
            got,
            res("cpus(ads):1;cpus:0.5;mem:10;ports(ads):[10-10];ports:[20-20]")
        );
        assert!(p.take(&shape).is_none());
        assert_eq!(p.remaining(), &res("cpus:0.5;mem:90;ports:[21-29]"));
        // Unreserved only for the default role.
        let mut p = OfferPacker::from_resources(&offer, "*");
        assert_eq!(p.fits(&shape), 0);
        assert!(p.take(&shape).is_none());
    }

    #[test]
    fn take_up_to_stops_at_max_or_when_full() {
        let mut p = OfferPacker::from_resources(&res("cpus:10;mem:100"), "*");
        let shape: TaskShape = "cpus:1;mem:30".parse().unwrap();
        assert_eq!(p.take_up_to(&shape, 2).len(), 2);
        assert_eq!(p.take_up_to(&shape, 5).len(), 1);
    }

    fn arb_offer() -> impl Strategy<Value = Resources> {
        (
            0u32..8000,
            0u32..4000,
            0u32..8000,
            0u32..4000,
            0u64..20,
            0u64..10,
            0u32..5000,
        )
            .prop_map(|(c, rc, m, rm, p, rp, oc)| {
                let mut r = Resources::new();
                r.push(&Resource::scalar("cpus", Scalar::from_milli(c.into())));
                r.push(&Resource::scalar("cpus", Scalar::from_milli(rc.into())).reserved_for("r"));
                r.push(&Resource::scalar("cpus", Scalar::from_milli(oc.into())).reserved_for("o"));
                r.push(&Resource::scalar("mem", Scalar::from_units(m.into())));
                r.push(&Resource::scalar("mem", Scalar::from_units(rm.into())).reserved_for("r"));
                if p > 0 {
                    r.push(&Resource::ports(
                        Ranges::single(31000, 31000 + p - 1).unwrap(),
                    ));
                }
                if rp > 0 {
                    r.push(
                        &Resource::ports(Ranges::from_pairs([(100, 100 + rp - 1)]).unwrap())
                            .reserved_for("r"),
                    );
                }
                r
            })
    }

    proptest! {
        /// Packing never takes more than the offer, never touches another role's
        /// reservations, gives every task exactly its shape, and takes as many tasks as
        /// `fits` promised.
        #[test]
        fn packing_never_exceeds_the_offer(
            offer in arb_offer(),
            cpus in 1i64..3000,
            mem in 1i64..2000,
            ports in 0u64..4,
            role in prop_oneof![Just("r"), Just("*")],
        ) {
            let mut shape_r = Resources::new();
            shape_r.push(&Resource::scalar("cpus", Scalar::from_milli(cpus)));
            shape_r.push(&Resource::scalar("mem", Scalar::from_units(mem)));
            let shape = TaskShape::new(&shape_r).unwrap().with_ports(ports);
            let mut p = OfferPacker::from_resources(&offer, role);
            let promised = p.fits(&shape);
            let mut total = Resources::new();
            let mut n = 0u64;
            while let Some(got) = p.take(&shape) {
                prop_assert!(n <= promised);
                prop_assert_eq!(got.cpus(), shape_r.cpus());
                prop_assert_eq!(got.mem(), shape_r.mem());
                prop_assert_eq!(got.ports().count(), ports);
                prop_assert!(got.roles().iter().all(|r| r == role), "{got}");
                total += &got;
                n += 1;
            }
            prop_assert_eq!(n, promised);
            prop_assert!(offer.contains(&total), "{total} not in {offer}");
            prop_assert_eq!(&(&total + p.remaining()), &offer.allocatable_to(role));
        }
    }
}
