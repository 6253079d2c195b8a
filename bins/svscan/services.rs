//! The services, kept small: with 10,000 of them svscan was 6 MB, most of
//! it hash tables (by key, by name, by pid, by watch; each slot with its
//! key and value, a second copy of each name and a Vec per name) and one
//! allocation per service. Here the services sit in one slab, and each
//! index is an [`IdTable`] of slab places: it keeps no key of its own but
//! looks at the service (its dev/ino, name, pids, watch) to tell a match.

use std::collections::hash_map::RandomState;
use std::ffi::OsStr;
use std::hash::{BuildHasher, Hash};

use nix::sys::inotify::WatchDescriptor;
use nix::unistd::Pid;

use super::idtable::IdTable;
use super::{Key, Service, Side};

pub(super) use super::name::Name;

#[derive(Default)]
pub(super) struct Services {
    /// Each service with its key; None is a free place (listed in `free`).
    slab: Vec<Option<(Key, Service)>>,
    free: Vec<u32>,
    by_key: IdTable,
    /// Two services share a name while a removed dir's service is still
    /// stopping and a new dir has that name.
    by_name: IdTable,
    /// Place * 2 + 1 for a log side: each supervise's service.
    by_pid: IdTable,
    by_watch: IdTable,
    hasher: RandomState,
}

/// The pid table's entry for one side of the service at `place`.
fn pid_entry(place: u32, side: Side) -> u32 {
    place * 2 + u32::from(side == Side::Log)
}

impl Services {
    fn hash(&self, x: impl Hash) -> u64 {
        self.hasher.hash_one(x)
    }

    fn at(&self, place: u32) -> &(Key, Service) {
        self.slab[place as usize].as_ref().expect("indexed place")
    }

    fn place(&self, key: &Key) -> Option<u32> {
        self.by_key
            .probe(self.hash(key))
            .find(|&p| self.at(p).0 == *key)
    }

    pub(super) fn get(&self, key: &Key) -> Option<&Service> {
        self.place(key).map(|p| &self.at(p).1)
    }

    pub(super) fn get_mut(&mut self, key: &Key) -> Option<&mut Service> {
        let place = self.place(key)?;
        self.slab[place as usize].as_mut().map(|(_, s)| s)
    }

    pub(super) fn contains_key(&self, key: &Key) -> bool {
        self.place(key).is_some()
    }

    /// A new service (`key` is not known yet), indexed by its name and
    /// its watch.
    pub(super) fn insert(&mut self, key: Key, svc: Service) {
        debug_assert!(!self.contains_key(&key));
        let (hk, hn) = (self.hash(key), self.hash(&*svc.name));
        let hw = svc.watch.map(|w| self.hash(w));
        let place = match self.free.pop() {
            Some(p) => {
                self.slab[p as usize] = Some((key, svc));
                p
            }
            None => {
                self.slab.push(Some((key, svc)));
                u32::try_from(self.slab.len() - 1).expect("fewer than 2^31 services")
            }
        };
        let (slab, h) = (&self.slab, &self.hasher);
        let get = |p: u32| &slab[p as usize].as_ref().expect("indexed place").1;
        self.by_key.insert(hk, place, |p| {
            h.hash_one(slab[p as usize].as_ref().expect("indexed").0)
        });
        self.by_name
            .insert(hn, place, |p| h.hash_one(&*get(p).name));
        if let Some(hw) = hw {
            self.by_watch
                .insert(hw, place, |p| h.hash_one(get(p).watch.expect("watched")));
        }
    }

    /// Forget the service `key`, and every index entry for it.
    pub(super) fn remove(&mut self, key: &Key) -> Option<Service> {
        let place = self.place(key)?;
        let (_, svc) = self.slab[place as usize].take().expect("indexed place");
        self.by_key.remove(self.hash(key), place);
        self.by_name.remove(self.hash(&*svc.name), place);
        if let Some(w) = svc.watch {
            self.by_watch.remove(self.hash(w), place);
        }
        for side in [Side::Main, Side::Log] {
            if let Some(pid) = svc.side(side).and_then(|s| s.pid) {
                self.by_pid.remove(self.hash(pid), pid_entry(place, side));
            }
        }
        self.free.push(place);
        Some(svc)
    }

    /// Every service as (key, service), in no particular order.
    pub(super) fn iter(&self) -> impl Iterator<Item = (&Key, &Service)> {
        self.slab.iter().flatten().map(|(k, s)| (k, s))
    }

    pub(super) fn values(&self) -> impl Iterator<Item = &Service> {
        self.iter().map(|(_, s)| s)
    }

    pub(super) fn keys(&self) -> impl Iterator<Item = &Key> {
        self.iter().map(|(k, _)| k)
    }

    /// The service `key` is called `name` now.
    pub(super) fn rename(&mut self, key: &Key, name: Name) {
        let Some(place) = self.place(key) else { return };
        let old = self.hash(&*self.at(place).1.name);
        self.by_name.remove(old, place);
        let hn = self.hash(&*name);
        self.slab[place as usize].as_mut().expect("indexed").1.name = name;
        let (slab, h) = (&self.slab, &self.hasher);
        self.by_name.insert(hn, place, |p| {
            h.hash_one(&*slab[p as usize].as_ref().expect("indexed").1.name)
        });
    }

    /// The services called `name`.
    pub(super) fn named<'a>(&'a self, name: &'a OsStr) -> impl Iterator<Item = Key> + 'a {
        self.by_name
            .probe(self.hash(name))
            .map(|p| self.at(p))
            .filter(move |(_, s)| *s.name == *name)
            .map(|(k, _)| *k)
    }

    pub(super) fn has_name(&self, name: &OsStr) -> bool {
        self.named(name).next().is_some()
    }

    /// The supervise `pid` now runs `key`'s `side` (its pid set there).
    pub(super) fn index_pid(&mut self, key: &Key, side: Side, pid: Pid) {
        let Some(place) = self.place(key) else { return };
        let (slab, h) = (&self.slab, &self.hasher);
        self.by_pid
            .insert(self.hash(pid), pid_entry(place, side), |e| {
                let svc = &slab[(e / 2) as usize].as_ref().expect("indexed").1;
                let side = if e % 2 == 0 { Side::Main } else { Side::Log };
                h.hash_one(svc.side(side).and_then(|s| s.pid).expect("running"))
            });
    }

    /// The service and side whose supervise is `pid`, taken out of the
    /// index (its pid is still set there).
    pub(super) fn take_pid(&mut self, pid: Pid) -> Option<(Key, Side)> {
        let hash = self.hash(pid);
        let (entry, key, side) = self.by_pid.probe(hash).find_map(|e| {
            let (key, svc) = self.at(e / 2);
            let side = if e % 2 == 0 { Side::Main } else { Side::Log };
            (svc.side(side)?.pid == Some(pid)).then_some((e, *key, side))
        })?;
        self.by_pid.remove(hash, entry);
        Some((key, side))
    }

    /// Supervisors running, ours.
    pub(super) fn pids(&self) -> usize {
        self.by_pid.len()
    }

    /// The service whose dir has watch `wd`.
    pub(super) fn watched(&self, wd: WatchDescriptor) -> Option<Key> {
        self.by_watch
            .probe(self.hash(wd))
            .map(|p| self.at(p))
            .find(|(_, s)| s.watch == Some(wd))
            .map(|(k, _)| *k)
    }

    /// Watch `wd` is gone (IN_IGNORED): no service is found by it again.
    pub(super) fn unwatch(&mut self, wd: WatchDescriptor) {
        if let Some(key) = self.watched(wd) {
            let place = self.place(&key).expect("known");
            self.by_watch.remove(self.hash(wd), place);
        }
    }

    /// The service's watch, taken from it and from the index.
    pub(super) fn take_watch(&mut self, key: &Key) -> Option<WatchDescriptor> {
        let place = self.place(key)?;
        let wd = self.slab[place as usize].as_mut()?.1.watch.take()?;
        self.by_watch.remove(self.hash(wd), place);
        Some(wd)
    }
}

impl std::ops::Index<&Key> for Services {
    type Output = Service;

    fn index(&self, key: &Key) -> &Service {
        self.get(key).expect("known service")
    }
}
