//! Counter-based random numbers: Philox4x32-10 (Salmon et al., SC'11), the CPU twin of
//! `shaders/rng/rng.wgsl`.
//!
//! Element `i` of a stream with key `seed` and stream offset `offset` takes word `j % 4` of
//! the Philox block at counter `(j / 4, offset_lo, offset_hi, 0)` with `j = i` — so any element
//! can be recomputed independently (dropout masks in the backward pass, for one) and the CPU
//! and GPU produce the same bits. Uniforms use the top 24 bits; normals use Box–Muller on the
//! block's word pairs.

use super::Real;

const M0: u32 = 0xD251_1F53;
const M1: u32 = 0xCD9E_8D57;
const W0: u32 = 0x9E37_79B9;
const W1: u32 = 0xBB67_AE85;

fn mulhilo(a: u32, b: u32) -> (u32, u32) {
    let p = u64::from(a) * u64::from(b);
    ((p >> 32) as u32, p as u32)
}

/// One Philox4x32-10 block.
pub fn philox(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let (mut c, mut k) = (counter, key);
    for _ in 0..10 {
        let (hi0, lo0) = mulhilo(M0, c[0]);
        let (hi1, lo1) = mulhilo(M1, c[2]);
        c = [hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0];
        k = [k[0].wrapping_add(W0), k[1].wrapping_add(W1)];
    }
    c
}

/// The key of a 64-bit seed.
pub fn key(seed: u64) -> [u32; 2] {
    [seed as u32, (seed >> 32) as u32]
}

/// Counter of block `block` in stream `offset`.
pub fn counter(block: u32, offset: u64) -> [u32; 4] {
    [block, offset as u32, (offset >> 32) as u32, 0]
}

/// Uniform in `[0, 1)` from the top 24 bits of a word (exact in f32).
pub fn to_unit(w: u32) -> f32 {
    (w >> 8) as f32 * (1.0 / 16_777_216.0)
}

/// Uniform in `(0, 1)` (never 0, for logarithms).
pub fn to_open_unit(w: u32) -> f32 {
    ((w >> 8) as f32 + 0.5) * (1.0 / 16_777_216.0)
}

/// Fills `out` with uniforms in `[lo, hi)`: `out[i]` from stream `(seed, offset)` element `i`.
pub fn uniform<T: Real>(seed: u64, offset: u64, lo: f32, hi: f32, out: &mut [T]) {
    let key = key(seed);
    for (blk, chunk) in out.chunks_mut(4).enumerate() {
        let w = philox(counter(blk as u32, offset), key);
        for (j, v) in chunk.iter_mut().enumerate() {
            *v = T::of(f64::from(lo + (hi - lo) * to_unit(w[j])));
        }
    }
}

/// Fills `out` with normals `mean + std·z`: block `b` gives elements `4b..4b+4` by Box–Muller on
/// words (0,1) and (2,3) in f32, as the GPU does.
pub fn normal<T: Real>(seed: u64, offset: u64, mean: f32, std: f32, out: &mut [T]) {
    let key = key(seed);
    for (blk, chunk) in out.chunks_mut(4).enumerate() {
        let w = philox(counter(blk as u32, offset), key);
        let z = box_muller(w);
        for (j, v) in chunk.iter_mut().enumerate() {
            *v = T::of(f64::from(mean + std * z[j]));
        }
    }
}

/// Four standard normals from one Philox block (f32 arithmetic).
pub fn box_muller(w: [u32; 4]) -> [f32; 4] {
    let r0 = (-2.0 * to_open_unit(w[0]).ln()).sqrt();
    let r1 = (-2.0 * to_open_unit(w[2]).ln()).sqrt();
    let t0 = std::f32::consts::TAU * to_unit(w[1]);
    let t1 = std::f32::consts::TAU * to_unit(w[3]);
    [r0 * t0.cos(), r0 * t0.sin(), r1 * t1.cos(), r1 * t1.sin()]
}

/// Whether element `i` of stream `(seed, offset)` is kept by dropout with drop probability `p`.
pub fn keep(seed: u64, offset: u64, i: u64, p: f32) -> bool {
    let w = philox(counter((i / 4) as u32, offset), key(seed));
    to_unit(w[(i % 4) as usize]) >= p
}

/// Inverted dropout `out[i] = keep(i) ? x[i]/(1−p) : 0` over stream `(seed, offset)`: the
/// same mask as [`keep`] element by element, one Philox block per four elements, threaded.
pub fn dropout<T: Real>(seed: u64, offset: u64, p: f32, x: &[T], out: &mut [T]) {
    let k = key(seed);
    let scale = T::one() / (T::one() - T::of(f64::from(p)));
    super::parallel(out, 4, |start, part| {
        for (c, chunk) in part.chunks_mut(4).enumerate() {
            let i0 = start + 4 * c;
            let w = philox(counter((i0 / 4) as u32, offset), k);
            for (j, v) in chunk.iter_mut().enumerate() {
                *v = if to_unit(w[j]) >= p { x[i0 + j] * scale } else { T::zero() };
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn philox_matches_random123_known_answer() {
        // Random123 kat_vectors: philox4x32 10 rounds, counter 0, key 0.
        assert_eq!(philox([0; 4], [0; 2]), [0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8]);
        // counter all-ones, key all-ones.
        assert_eq!(philox([u32::MAX; 4], [u32::MAX; 2]), [0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd]);
    }

    #[test]
    fn blockwise_dropout_uses_the_per_element_mask() {
        let x: Vec<f32> = (0..100_003).map(|i| i as f32 * 0.5 + 1.0).collect();
        let mut y = vec![0f32; x.len()];
        dropout(7, 3, 0.3, &x, &mut y);
        let scale = 1.0 / (1.0 - f64::from(0.3f32)) as f32;
        for (i, (&a, &b)) in x.iter().zip(&y).enumerate() {
            let want = if keep(7, 3, i as u64, 0.3) { a * scale } else { 0.0 };
            assert_eq!(b, want, "element {i}");
        }
    }
}

/// Sequential host-side random numbers from one Philox stream: data sampling, initialisation
/// and evaluation draws all derive from one seed.
#[derive(Clone, Debug)]
pub struct HostRng {
    key: [u32; 2],
    offset: u64,
    block: u32,
    buf: [u32; 4],
    used: usize,
}

impl HostRng {
    /// The stream `(seed, offset)`.
    pub fn new(seed: u64, offset: u64) -> Self {
        HostRng { key: key(seed), offset, block: 0, buf: [0; 4], used: 4 }
    }

    /// The next 32 random bits.
    pub fn next_u32(&mut self) -> u32 {
        if self.used == 4 {
            self.buf = philox(counter(self.block, self.offset), self.key);
            self.block = self.block.wrapping_add(1);
            self.used = 0;
        }
        self.used += 1;
        self.buf[self.used - 1]
    }

    /// Uniform in `[0, 1)` with 53 random bits.
    pub fn uniform(&mut self) -> f64 {
        let hi = u64::from(self.next_u32()) << 21;
        let lo = u64::from(self.next_u32() >> 11);
        (hi | lo) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `[lo, hi)`.
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.uniform()
    }

    /// Standard normal (Box–Muller in f64).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform();
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// An index in `0..n` with probabilities `weights` (which sum to 1).
    pub fn categorical(&mut self, weights: &[f64]) -> usize {
        let u = self.uniform();
        let mut acc = 0.0;
        for (i, &w) in weights.iter().enumerate() {
            acc += w;
            if u < acc {
                return i;
            }
        }
        weights.len().saturating_sub(1)
    }

    /// A uniformly random index in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        ((self.uniform() * n as f64) as usize).min(n.saturating_sub(1))
    }
}
