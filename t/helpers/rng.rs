//! xorshift64*: enough randomness for timings and fault draws, no
//! dependency. Seeded from an environment variable or the clock, and the
//! seed printed, so a failing run can be replayed.

use std::time::{SystemTime, UNIX_EPOCH};

pub struct Rng(u64);

impl Rng {
    /// Seed from `$var` (or the clock), mixed with `lane` so parallel
    /// users of one seed draw different numbers.
    #[allow(dead_code)] // not every user of this file seeds from the environment
    pub fn seeded(var: &str, lane: u64) -> Rng {
        let seed = std::env::var(var)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
            });
        println!("  lane {lane}: {var}={seed}");
        Rng::from_seed(seed, lane)
    }

    /// A fixed seed, mixed with `lane` as [`Rng::seeded`] does: the same
    /// (seed, lane) always draws the same numbers.
    pub fn from_seed(seed: u64, lane: u64) -> Rng {
        Rng((seed ^ (lane.wrapping_mul(0x9E37_79B9_7F4A_7C15))) | 1)
    }

    /// A number in 0..n.
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) % n.max(1)
    }
}
