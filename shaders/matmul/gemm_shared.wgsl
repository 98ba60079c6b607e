// matmul/gemm_shared.wgsl — batched GEMM staged through workgroup memory: the classic tiled
// kernel for GPUs with fast shared memory and cheap barriers (maths: gemm_common.wgsl).
//
// A workgroup of WGX×WGY invocations (defines) owns a BM×BN block of C, BM = WGY·TM,
// BN = WGX·TN. For every BK-slice of k it stages A[BM, BK] and B[BK, BN] in workgroup memory
// (zero-filled past the edges), synchronises, and each invocation accumulates its TM×TN
// register block from the staged tiles. Workgroup memory: 4·BK·(BM + BN) bytes.
// Dispatch: (ceil(n / BN), ceil(m / BM), batch · splits).
// CPU twin: cpu::gemm::gemm.

const BM: u32 = WGY * TM;
const BN: u32 = WGX * TN;
const NT: u32 = WGX * WGY;

var<workgroup> As: array<f32, BM * BK>;
var<workgroup> Bs: array<f32, BK * BN>;

@compute @workgroup_size(WGX, WGY, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let bi = wid.z % p.batch;
    let split = wid.z / p.batch;
    let k0 = split * p.k_split;
    let k1 = min(k0 + p.k_split, p.k);
    let brow = wid.y * BM;
    let bcol = wid.x * BN;
    let a_base = p.a_off + bi * p.sa;
    let b_base = p.b_off + bi * p.sb;
    var acc: array<array<f32, TN>, TM>;
    for (var kt = k0; kt < k1; kt += BK) {
        for (var e = li; e < BM * BK; e += NT) {
            let r = e / BK;
            let kk = kt + e % BK;
            var v = 0.0;
            if (brow + r < p.m && kk < k1) {
                v = load_a(a_base, brow + r, kk);
            }
            As[e] = v;
        }
        for (var e = li; e < BK * BN; e += NT) {
            let kk = kt + e / BN;
            let col = bcol + e % BN;
            var v = 0.0;
            if (col < p.n && kk < k1) {
                v = load_b(b_base, kk, col);
            }
            Bs[e] = v;
        }
        workgroupBarrier();
        for (var q = 0u; q < BK; q++) {
            var av: array<f32, TM>;
            var bv: array<f32, TN>;
            for (var i = 0u; i < TM; i++) { av[i] = As[(lid.y * TM + i) * BK + q]; }
            for (var j = 0u; j < TN; j++) { bv[j] = Bs[q * BN + lid.x * TN + j]; }
            for (var i = 0u; i < TM; i++) {
                for (var j = 0u; j < TN; j++) {
                    acc[i][j] = fma(av[i], bv[j], acc[i][j]);
                }
            }
        }
        workgroupBarrier();
    }
    for (var i = 0u; i < TM; i++) {
        for (var j = 0u; j < TN; j++) {
            let r = brow + lid.y * TM + i;
            let col = bcol + lid.x * TN + j;
            if (r < p.m && col < p.n) {
                store_c(wid.z, r, col, acc[i][j]);
            }
        }
    }
}
