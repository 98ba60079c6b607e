// rng/philox.wgsl — Philox4x32-10 counter-based RNG (Salmon et al., SC'11): a library
// included by the rng, dropout and attention kernels. Bit-identical to cpu::rng::philox.
//
// Element i of stream (key, offset) is word i % 4 of the block at counter
// (i / 4, offset_lo, offset_hi, 0), so any element can be regenerated on its own.

const PHILOX_M0: u32 = 0xD2511F53u;
const PHILOX_M1: u32 = 0xCD9E8D57u;
const PHILOX_W0: u32 = 0x9E3779B9u;
const PHILOX_W1: u32 = 0xBB67AE85u;

// (hi, lo) words of the 64-bit product a·b, from 16-bit halves (WGSL has no u64).
fn mulhilo(a: u32, b: u32) -> vec2<u32> {
    let a_lo = a & 0xFFFFu;
    let a_hi = a >> 16u;
    let b_lo = b & 0xFFFFu;
    let b_hi = b >> 16u;
    let ll = a_lo * b_lo;
    let lh = a_lo * b_hi;
    let hl = a_hi * b_lo;
    let hh = a_hi * b_hi;
    let mid = (ll >> 16u) + (lh & 0xFFFFu) + (hl & 0xFFFFu);
    let hi = hh + (lh >> 16u) + (hl >> 16u) + (mid >> 16u);
    return vec2<u32>(hi, a * b);
}

fn philox(counter: vec4<u32>, key: vec2<u32>) -> vec4<u32> {
    var c = counter;
    var k = key;
    for (var r = 0u; r < 10u; r++) {
        let p0 = mulhilo(PHILOX_M0, c.x);
        let p1 = mulhilo(PHILOX_M1, c.z);
        c = vec4<u32>(p1.x ^ c.y ^ k.x, p1.y, p0.x ^ c.w ^ k.y, p0.y);
        k = k + vec2<u32>(PHILOX_W0, PHILOX_W1);
    }
    return c;
}

// Uniform in [0, 1) from the top 24 bits (exact in f32).
fn to_unit(w: u32) -> f32 {
    return f32(w >> 8u) * (1.0 / 16777216.0);
}

// Uniform in (0, 1), never 0 (for logarithms).
fn to_open_unit(w: u32) -> f32 {
    return (f32(w >> 8u) + 0.5) * (1.0 / 16777216.0);
}

// Word i of the stream (key, offset): counter (i/4, offset), word i % 4.
fn philox_word(key: vec2<u32>, offset: vec2<u32>, i: u32) -> u32 {
    let w = philox(vec4<u32>(i / 4u, offset.x, offset.y, 0u), key);
    return w[i % 4u];
}
