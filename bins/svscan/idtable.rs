//! A hash index of 4 bytes a slot: it holds only numbers (a service's
//! place in the slab, services.rs), and the caller tells which entry is
//! the one sought by looking at the service itself. A std HashMap holding
//! its keys and values took 25 to 49 bytes a slot, and with 10,000
//! services its slots outweighed the services.

/// A slot never used: a probe ends here.
const EMPTY: u32 = u32::MAX;
/// A slot whose entry was removed: a probe goes on past it.
const GONE: u32 = u32::MAX - 1;

#[derive(Default)]
pub(super) struct IdTable {
    /// Open addressing, linear probing; a power of two long (or empty).
    slots: Vec<u32>,
    /// Entries held.
    len: usize,
    /// Entries and GONE slots: kept under 3/4 of the slots, so a probe
    /// always ends.
    used: usize,
}

impl IdTable {
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// The entries that may be the one with this hash, in probe order.
    pub(super) fn probe(&self, hash: u64) -> impl Iterator<Item = u32> + '_ {
        let mask = self.slots.len().wrapping_sub(1);
        (0..self.slots.len())
            .map(move |i| self.slots[(hash as usize).wrapping_add(i) & mask])
            .take_while(|&v| v != EMPTY)
            .filter(|&v| v != GONE)
    }

    /// Add `value` (< GONE) under `hash`; `rehash` gives any entry's hash
    /// again, for a growth.
    pub(super) fn insert(&mut self, hash: u64, value: u32, rehash: impl Fn(u32) -> u64) {
        debug_assert!(value < GONE);
        if (self.used + 1) * 4 > self.slots.len() * 3 {
            self.resize(rehash);
        }
        let mask = self.slots.len() - 1;
        let mut i = hash as usize & mask;
        while self.slots[i] != EMPTY && self.slots[i] != GONE {
            i = (i + 1) & mask;
        }
        if self.slots[i] == EMPTY {
            self.used += 1;
        }
        self.slots[i] = value;
        self.len += 1;
    }

    /// Remove `value`, filed under `hash`. False if it was not there.
    pub(super) fn remove(&mut self, hash: u64, value: u32) -> bool {
        let mask = self.slots.len().wrapping_sub(1);
        for n in 0..self.slots.len() {
            let i = (hash as usize).wrapping_add(n) & mask;
            match self.slots[i] {
                EMPTY => return false,
                v if v == value => {
                    self.slots[i] = GONE;
                    self.len -= 1;
                    return true;
                }
                _ => {}
            }
        }
        false
    }

    /// Room for twice the entries (GONE slots dropped), at least 8 slots.
    fn resize(&mut self, rehash: impl Fn(u32) -> u64) {
        let size = ((self.len + 1) * 2).next_power_of_two().max(8);
        let old = std::mem::replace(&mut self.slots, vec![EMPTY; size]);
        self.len = 0;
        self.used = 0;
        for v in old.into_iter().filter(|&v| v != EMPTY && v != GONE) {
            let mask = self.slots.len() - 1;
            let mut i = rehash(v) as usize & mask;
            while self.slots[i] != EMPTY {
                i = (i + 1) & mask;
            }
            self.slots[i] = v;
            self.len += 1;
            self.used += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_what_it_holds_across_growth_and_removal() {
        // A poor hash: every entry collides with others.
        let hash = |v: u32| u64::from(v % 7);
        let mut t = IdTable::default();
        for v in 0..1000 {
            t.insert(hash(v), v, hash);
        }
        assert_eq!(t.len(), 1000);
        for v in (0..1000).step_by(2) {
            assert!(t.remove(hash(v), v));
        }
        assert!(!t.remove(hash(2), 2));
        assert_eq!(t.len(), 500);
        for v in 0..1000 {
            assert_eq!(t.probe(hash(v)).any(|x| x == v), v % 2 == 1, "{v}");
        }
        // Slots freed by removals are used again: no growth without end.
        for round in 0..100 {
            t.insert(hash(round), 5000 + round, hash);
            assert!(t.remove(hash(round), 5000 + round));
        }
        assert!(t.slots.len() <= 2048);
    }
}
