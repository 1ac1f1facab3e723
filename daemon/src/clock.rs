//! The node's time and randomness, as handles the engine holds (docs/ARCHITECTURE.md, "Time and
//! randomness"): a [`Clock`] that is the system clock in `trellisd` and a [`TestClock`] that tests
//! set and advance, and an [`Rng`] that is the operating system's generator in `trellisd` and a
//! seeded generator in tests. The engine's logic reads time and draws randomness only through
//! them, so a test can make an invite link expire or a quota refill without sleeping.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng, TryRng};

/// Wall-clock and monotonic time. Cheap to clone; clones share one source.
#[derive(Clone, Debug)]
pub struct Clock(Source);

#[derive(Clone, Debug)]
enum Source {
    System,
    Test(Arc<TestTime>),
}

/// The time a test clock shows: wall-clock milliseconds, and the offset of its monotonic time
/// from the instant it was made.
#[derive(Debug)]
struct TestTime {
    ms: AtomicU64,
    base: Instant,
    elapsed_ms: AtomicU64,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Clock {
        Clock(Source::System)
    }

    /// Milliseconds since the Unix epoch.
    pub fn now_ms(&self) -> u64 {
        match &self.0 {
            Source::System => crate::home::now_ms(),
            Source::Test(t) => t.ms.load(Ordering::SeqCst),
        }
    }

    /// Monotonic time, for intervals and rate limits.
    pub fn now(&self) -> Instant {
        match &self.0 {
            Source::System => Instant::now(),
            Source::Test(t) => t.base + Duration::from_millis(t.elapsed_ms.load(Ordering::SeqCst)),
        }
    }
}

/// A clock that moves only when the test moves it. [`TestClock::clock`] is the handle to give the
/// engine; setting or advancing the test clock moves every clone of it.
#[derive(Clone, Debug)]
pub struct TestClock(Arc<TestTime>);

impl TestClock {
    /// A clock showing `start_ms` (milliseconds since the Unix epoch).
    pub fn new(start_ms: u64) -> TestClock {
        TestClock(Arc::new(TestTime {
            ms: AtomicU64::new(start_ms),
            base: Instant::now(),
            elapsed_ms: AtomicU64::new(0),
        }))
    }

    /// The handle that reads this clock.
    pub fn clock(&self) -> Clock {
        Clock(Source::Test(Arc::clone(&self.0)))
    }

    /// Move wall-clock and monotonic time forward by `by`.
    pub fn advance(&self, by: Duration) {
        let ms = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        self.0.ms.fetch_add(ms, Ordering::SeqCst);
        self.0.elapsed_ms.fetch_add(ms, Ordering::SeqCst);
    }

    /// Set the wall clock to `ms` (monotonic time does not move: it never goes back).
    pub fn set_ms(&self, ms: u64) {
        self.0.ms.store(ms, Ordering::SeqCst);
    }
}

/// A source of random bytes. Cheap to clone; clones share one source.
#[derive(Clone, Debug)]
pub struct Rng(RngSource);

#[derive(Clone, Debug)]
enum RngSource {
    Os,
    Seeded(Arc<Mutex<StdRng>>),
}

impl Rng {
    /// The operating system's generator (`getrandom`), read for every draw.
    pub fn os() -> Rng {
        Rng(RngSource::Os)
    }

    /// A deterministic generator for tests: the same seed gives the same bytes.
    pub fn seeded(seed: u64) -> Rng {
        Rng(RngSource::Seeded(Arc::new(Mutex::new(StdRng::seed_from_u64(seed)))))
    }

    /// Fill `dest` with random bytes.
    ///
    /// # Panics
    /// When the operating system cannot give random bytes. There is no safe way to go on: keys,
    /// nonces and tokens would be predictable. (`getrandom` fails only before the kernel's pool
    /// is initialised or with a broken sandbox; `rand`'s own thread generator panics the same.)
    pub fn fill(&self, dest: &mut [u8]) {
        match &self.0 {
            RngSource::Os => {
                if let Err(e) = rand::rngs::SysRng.try_fill_bytes(dest) {
                    panic!("the operating system's random number generator failed: {e}");
                }
            }
            // Any state of the generator is a valid state: a panic elsewhere while it was held
            // leaves nothing half-done, so the lock is recovered.
            RngSource::Seeded(r) => r.lock().unwrap_or_else(PoisonError::into_inner).fill_bytes(dest),
        }
    }

    /// `N` random bytes.
    pub fn bytes<const N: usize>(&self) -> [u8; N] {
        let mut b = [0u8; N];
        self.fill(&mut b);
        b
    }

    /// A random index below `n` (`n` > 0); `0` when `n` is 0.
    pub fn below(&self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        (u64::from_le_bytes(self.bytes()) % n as u64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_clock_moves_only_when_told() {
        let t = TestClock::new(1_000);
        let c = t.clock();
        let i0 = c.now();
        assert_eq!(c.now_ms(), 1_000);
        assert_eq!(c.now(), i0, "monotonic time stands still");
        t.advance(Duration::from_secs(5));
        assert_eq!(c.now_ms(), 6_000);
        assert_eq!(c.now().duration_since(i0), Duration::from_secs(5));
        t.set_ms(42);
        assert_eq!(c.now_ms(), 42);
        assert_eq!(c.now().duration_since(i0), Duration::from_secs(5), "setting the wall clock leaves monotonic time");
    }

    #[test]
    fn seeded_rng_repeats_and_os_rng_differs() {
        let a: [u8; 32] = Rng::seeded(7).bytes();
        let b: [u8; 32] = Rng::seeded(7).bytes();
        let c: [u8; 32] = Rng::seeded(8).bytes();
        assert_eq!(a, b);
        assert_ne!(a, c);
        let r = Rng::seeded(7);
        let (x, y): ([u8; 32], [u8; 32]) = (r.bytes(), r.bytes());
        assert_ne!(x, y, "draws from one generator differ");
        let os = Rng::os();
        assert_ne!(os.bytes::<32>(), os.bytes::<32>());
        assert!((0..100).all(|_| r.below(3) < 3));
        assert_eq!(r.below(0), 0);
    }
}
