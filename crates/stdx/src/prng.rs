//! The test tools' one source of randomness (simulator, fuzzer): xoshiro256** seeded through
//! splitmix64.
//!
//! Everything a run does is drawn from a `Prng` made from its seed, so a seed reproduces a run
//! exactly, on any machine. Never used inside a state machine: seeds reach those as command
//! fields. No dependency: the generator is a dozen lines (public-domain
//! algorithms by Blackman and Vigna) and never changes, so recorded seeds stay meaningful.

/// A small, fast, seedable generator. Not for cryptography.
#[derive(Clone, Debug)]
pub struct Prng {
    state: [u64; 4],
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Prng {
    #[must_use]
    pub fn new(seed: u64) -> Prng {
        let mut mix = seed;
        Prng {
            state: [
                splitmix64(&mut mix),
                splitmix64(&mut mix),
                splitmix64(&mut mix),
                splitmix64(&mut mix),
            ],
        }
    }

    pub fn next_u64(&mut self) -> u64 {
        let [s0, s1, s2, s3] = &mut self.state;
        let result = s1.wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = *s1 << 17;
        *s2 ^= *s0;
        *s3 ^= *s1;
        *s1 ^= *s2;
        *s0 ^= *s3;
        *s2 ^= t;
        *s3 = s3.rotate_left(45);
        result
    }

    /// A number in `0..bound` (`bound > 0`), without modulo bias (Lemire's multiply-shift).
    pub fn below(&mut self, bound: u64) -> u64 {
        assert!(bound > 0, "below(0)");
        loop {
            let product = u128::from(self.next_u64()) * u128::from(bound);
            #[expect(
                clippy::cast_possible_truncation,
                reason = "the low half of the product"
            )]
            let low = product as u64;
            if low >= bound.wrapping_neg() % bound {
                return u64::try_from(product >> 64).expect("high half fits");
            }
        }
    }

    /// A number in `min..=max`.
    pub fn range(&mut self, min: u64, max: u64) -> u64 {
        assert!(min <= max, "empty range {min}..={max}");
        if max - min == u64::MAX {
            return self.next_u64();
        }
        min + self.below(max - min + 1)
    }

    /// True with probability `per_mille / 1000`.
    pub fn chance(&mut self, per_mille: u32) -> bool {
        self.below(1000) < u64::from(per_mille)
    }

    /// True with probability `percent / 100`.
    pub fn percent(&mut self, percent: u32) -> bool {
        self.below(100) < u64::from(percent)
    }

    /// A uniformly chosen index of a slice of `len` items (`len > 0`).
    pub fn index(&mut self, len: usize) -> usize {
        usize::try_from(self.below(len as u64)).expect("an index below a usize")
    }

    /// A uniformly chosen item (`items` not empty).
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.index(items.len())]
    }

    /// An independent generator for a sub-task, so adding draws there does not shift the rest.
    pub fn fork(&mut self) -> Prng {
        Prng::new(self.next_u64())
    }
}
