//! The fuzzer's one source of randomness: `stdx::Prng` (xoshiro256**), with its own draws.
//!
//! A run is a function of its seed and its corpus, so `--seed S --execs N` replays a run
//! exactly; the generator never changes, so recorded seeds stay meaningful.

/// `stdx::Prng` with the fuzzer's draws (modulo `below` that accepts 0, bytes).
#[derive(Clone, Debug)]
pub struct Prng(stdx::Prng);

impl Prng {
    #[must_use]
    pub fn new(seed: u64) -> Prng {
        Prng(stdx::Prng::new(seed))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// A number in `0..bound`; 0 when `bound` is 0. The slight modulo bias does not matter here.
    pub fn below(&mut self, bound: usize) -> usize {
        if bound == 0 {
            return 0;
        }
        usize::try_from(self.next_u64() % bound as u64).expect("below a usize bound")
    }

    /// True with probability `1 / n`.
    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    pub fn byte(&mut self) -> u8 {
        self.next_u64().to_le_bytes()[0]
    }

    /// One element of a non-empty slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}
