// matmul/gemm_sg8.wgsl — batched GEMM for CPU-like adapters (lavapipe/llvmpipe: 8-wide SIMD,
// every buffer load a per-lane scalar loop, costly barriers, cheap spills). Maths and layout:
// gemm_common.wgsl.
//
// The 8 consecutive invocations of a group share TM rows of C and each owns TN4 vec4 column
// groups: a group computes TM × (32·TN4) outputs, a workgroup (WG/8 groups) stacks groups
// along m. Per 4-step of k the group loads each needed A value once (lane l takes rows
// l, l+8, … as vec4s of k; with TRANS_A, 4-row chunks of the 4 k-rows) and hands rows out with
// subgroupShuffle; B is read as vec4 (4 columns, or 4 k-values when TRANS_B, transposed in
// registers). Each accumulator takes 4 multiply-adds per update, so spilled-accumulator
// traffic stays small per flop. No shared memory, no barriers. Results leave as vec4 stores.
//
// TRANS_C = 1 computes the transposed product Cᵀ = op(B)ᵀ·op(A)ᵀ (the launcher swaps the operands
// and their transposes, so m, n and the operands above are Cᵀ's) and stores it transposed, as C:
// products with few columns and many rows (n = 72, m = 5120) then tile along their long side
// without padding the short one (the tile's 8 lanes own 8 consecutive rows of Cᵀ, i.e. one
// vec4 pair of a row of C), and the bias is indexed by Cᵀ's row.
//
// Weight gradients (dW = Xᵀ·dY: TRANS_A = 1, TRANS_B = 0, TRANS_C = 0) can also produce the
// bias gradient: with BIAS_ROW = 1 every lane sums its columns of B over k alongside the
// product and the first group of each column block writes the sums as row m of C, whose
// blocks then have m + 1 rows ([dW; db] is one contiguous block when the bias follows the
// weight). With TRANS_C the same sums are those of the kernel's transposed A over k (each lane
// sums its 4-row chunks) and the first column block writes them as the stored row after C's. With ACC_C = 1 the results are added to C instead of overwriting it
// (gradient accumulation straight into the parameters' gradient buffer).
// Measured on llvmpipe (2 cores, 1024³): ≈ 50–56 GFLOP/s for TM 32–64, TN4 2–3 (tools/ksweep);
// the cost is dominated by llvmpipe's per-lane buffer loads, so larger tiles help only a little.
//
// Requirements (checked by the launcher): N % 4 == 0, M % 4 == 0 if TRANS_C, c_off % 4 == 0; K % 4 == 0 unless TRANS_A, M % 4 == 0 if
// TRANS_A; K % 4 == 0 if TRANS_B; vec4-aligned offsets and batch strides; subgroup size a
// multiple of 8 with consecutive lanes; TM % 8 == 0, TM ≤ 72 (nine rows8 calls); k_split % 4 == 0.
// Dispatch: (ceil(n / (32·TN4)), ceil(m / ((WG/8)·TM)), batch · splits).
// CPU twin: cpu::gemm::gemm (with BIAS_ROW, also cpu::reduce::sum_leading of B).

// A and B (bindings 0 and 1) are read by lda / ldb (vec4 index → vec4), declared by the
// operand libraries operand_{a,b}_{buffer,texture}.wgsl: a storage buffer, or its texture mirror
// for a read-mostly operand such as the parameters (define TEX: 0 none, 1 A, 2 B).
@group(0) @binding(3) var<storage, read_write> c4: array<vec4<f32>>;

override WG: u32 = 64u;

// Transposed-A chunk slots per lane: TM/4 chunks of 4 rows spread over 8 lanes.
const NS: u32 = (TM + 31u) / 32u;
// A lane's accumulators (acc[r][l][j]: tile row r·8 + l, column group j), one vec4 per column
// group, its rows of A for one 4-step of k (av[r]: row r·8 + lane) and its transposed-A chunks
// (at[slot][k row]).
alias Tile = array<array<array<vec4<f32>, TN4>, 8>, TM / 8u>;
alias Cols = array<vec4<f32>, TN4>;
alias Rows = array<vec4<f32>, TM / 8u>;
alias ChunksT = array<array<vec4<f32>, 4>, NS>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32,
        @builtin(subgroup_invocation_id) sg_lane: u32) {
    let lane = li % 8u;
    let base_lane = sg_lane - lane;
    let group = li / 8u;
    let bi = wid.z % p.batch;
    let split = wid.z / p.batch;
    let kq0 = split * p.k_split / 4u;
    let kq1 = (min(split * p.k_split + p.k_split, p.k) + 3u) / 4u;
    let n4 = p.n / 4u;
    let m4 = p.m / 4u;
    let k4 = p.k / 4u;
    let col4 = wid.x * (8u * TN4) + lane * TN4;
    let row0 = wid.y * ((WG / 8u) * TM) + group * TM;
    let a_base4 = (p.a_off + bi * p.sa) / 4u;
    let b_base4 = (p.b_off + bi * p.sb) / 4u;
    var cl: array<u32, TN4>;
    for (var j = 0u; j < TN4; j++) { cl[j] = min(col4 + j, n4 - 1u); }
    // acc[r][l][j] (Tile): constant indices in rows8, each level indexed by its own loop
    // variable in the stores, so that acc stays in registers (an index the driver cannot resolve
    // sends it to scratch memory).
    var acc: Tile;
    var bsum: array<vec4<f32>, TN4>;
    var bsr: array<vec4<f32>, NS>;
    for (var kq = kq0; kq < kq1; kq++) {
        var av: Rows;
        var at: ChunksT;
        if (TRANS_A == 1u) {
            for (var s = 0u; s < NS; s++) {
                let chunk = min(row0 / 4u + lane + 8u * s, m4 - 1u);
                for (var q = 0u; q < 4u; q++) {
                    at[s][q] = lda(a_base4 + (kq * 4u + q) * m4 + chunk);
                }
                if (BIAS_ROW == 1u && TRANS_C == 1u) {
                    bsr[s] += (at[s][0] + at[s][1]) + (at[s][2] + at[s][3]);
                }
            }
        } else {
            for (var r = 0u; r < TM / 8u; r++) {
                av[r] = lda(a_base4 + min(row0 + r * 8u + lane, p.m - 1u) * k4 + kq);
            }
        }
        var b0: Cols;
        var b1: Cols;
        var b2: Cols;
        var b3: Cols;
        for (var j = 0u; j < TN4; j++) {
            if (TRANS_B == 1u) {
                let c0 = ldb(b_base4 + (cl[j] * 4u) * k4 + kq);
                let c1 = ldb(b_base4 + (cl[j] * 4u + 1u) * k4 + kq);
                let c2 = ldb(b_base4 + (cl[j] * 4u + 2u) * k4 + kq);
                let c3 = ldb(b_base4 + (cl[j] * 4u + 3u) * k4 + kq);
                b0[j] = vec4<f32>(c0.x, c1.x, c2.x, c3.x);
                b1[j] = vec4<f32>(c0.y, c1.y, c2.y, c3.y);
                b2[j] = vec4<f32>(c0.z, c1.z, c2.z, c3.z);
                b3[j] = vec4<f32>(c0.w, c1.w, c2.w, c3.w);
            } else {
                let i = b_base4 + kq * 4u * n4 + cl[j];
                b0[j] = ldb(i);
                b1[j] = ldb(i + n4);
                b2[j] = ldb(i + 2u * n4);
                b3[j] = ldb(i + 3u * n4);
            }
            if (BIAS_ROW == 1u && TRANS_C == 0u) {
                bsum[j] += (b0[j] + b1[j]) + (b2[j] + b3[j]);
            }
        }
        // The multiply-adds, one call per 8-row block with a constant block index (see rows8).
        if (TM / 8u > 0u) { rows8(&acc, 0u, &av, &at, base_lane, &b0, &b1, &b2, &b3); }
        if (TM / 8u > 1u) { rows8(&acc, 1u, &av, &at, base_lane, &b0, &b1, &b2, &b3); }
        if (TM / 8u > 2u) { rows8(&acc, 2u, &av, &at, base_lane, &b0, &b1, &b2, &b3); }
        if (TM / 8u > 3u) { rows8(&acc, 3u, &av, &at, base_lane, &b0, &b1, &b2, &b3); }
        if (TM / 8u > 4u) { rows8(&acc, 4u, &av, &at, base_lane, &b0, &b1, &b2, &b3); }
        if (TM / 8u > 5u) { rows8(&acc, 5u, &av, &at, base_lane, &b0, &b1, &b2, &b3); }
        if (TM / 8u > 6u) { rows8(&acc, 6u, &av, &at, base_lane, &b0, &b1, &b2, &b3); }
        if (TM / 8u > 7u) { rows8(&acc, 7u, &av, &at, base_lane, &b0, &b1, &b2, &b3); }
        if (TM / 8u > 8u) { rows8(&acc, 8u, &av, &at, base_lane, &b0, &b1, &b2, &b3); }
    }
    // vec4 stores: C[z] is [m, n] (TRANS_C = 0) or [n, m] (TRANS_C = 1) at c_off + z·m·n.
    let blk4 = (p.c_off + wid.z * p.c_block) / 4u;
    if (TRANS_C == 1u) {
        // The 4 consecutive rows 8r + 4h … of this lane's tile are one vec4 of each of the
        // stored rows (col4 + j)·4 + q; their bias entries are the tile rows.
        for (var r = 0u; r < TM / 8u; r++) {
            for (var h = 0u; h < 2u; h++) {
                let row = row0 + r * 8u + 4u * h;
                let br = bias4(wid.z, min(row, p.m - 4u));
                for (var j = 0u; j < TN4; j++) {
                    if (row < p.m && col4 + j < n4) {
                        let v0 = acc[r][4u * h][j];
                        let v1 = acc[r][4u * h + 1u][j];
                        let v2 = acc[r][4u * h + 2u][j];
                        let v3 = acc[r][4u * h + 3u][j];
                        let at4 = blk4 + (col4 + j) * 4u * m4 + row / 4u;
                        store4(at4, act4(p.alpha * vec4<f32>(v0.x, v1.x, v2.x, v3.x) + br));
                        store4(at4 + m4, act4(p.alpha * vec4<f32>(v0.y, v1.y, v2.y, v3.y) + br));
                        store4(at4 + 2u * m4, act4(p.alpha * vec4<f32>(v0.z, v1.z, v2.z, v3.z) + br));
                        store4(at4 + 3u * m4, act4(p.alpha * vec4<f32>(v0.w, v1.w, v2.w, v3.w) + br));
                    }
                }
            }
        }
        if (BIAS_ROW == 1u && wid.x == 0u) {
            for (var s = 0u; s < NS; s++) {
                let chunk = row0 / 4u + lane + 8u * s;
                if (chunk < m4 && chunk < (row0 + TM) / 4u) {
                    store4(blk4 + p.n * m4 + chunk, p.alpha * bsr[s]);
                }
            }
        }
    } else {
        // The bias of this lane's columns, loaded once.
        var bj: array<vec4<f32>, TN4>;
        for (var j = 0u; j < TN4; j++) { bj[j] = bias4(wid.z, cl[j] * 4u); }
        for (var r = 0u; r < TM / 8u; r++) {
            for (var l = 0u; l < 8u; l++) {
                let row = row0 + r * 8u + l;
                for (var j = 0u; j < TN4; j++) {
                    if (row < p.m && col4 + j < n4) {
                        store4(blk4 + row * n4 + col4 + j, act4(p.alpha * acc[r][l][j] + bj[j]));
                    }
                }
            }
        }
        if (BIAS_ROW == 1u && row0 == 0u) {
            for (var j = 0u; j < TN4; j++) {
                if (col4 + j < n4) {
                    store4(blk4 + p.m * n4 + col4 + j, p.alpha * bsum[j]);
                }
            }
        }
    }
}

// One 4-step of k for the 8 tile rows of block r (a constant at every call): each row's 4 values
// of op(A) come from the lane that loaded them (av[r]: this lane's row of the block; at: its
// transposed chunks), times the 4 rows of B (b0…b3), into acc[r]. Calling this per block, and
// row1 per row, instead of looping over r and l leaves no loop for the driver to unroll with acc
// indexed by its variable: Mesa 25's llvmpipe declines to unroll the loop over blocks for
// TM ≥ 32, and the one over rows with a transposed A and 3 column groups, and then keeps acc in
// scratch memory (ksweep 1024³: 12–18 against 41–51 GFLOP/s); Mesa 22.3 unrolled them all.
fn rows8(acc: ptr<function, Tile>, r: u32, av: ptr<function, Rows>, at: ptr<function, ChunksT>, base_lane: u32,
         b0: ptr<function, Cols>, b1: ptr<function, Cols>, b2: ptr<function, Cols>, b3: ptr<function, Cols>) {
    row1(acc, r, 0u, a_row(r, 0u, (*av)[r], at, base_lane), b0, b1, b2, b3);
    row1(acc, r, 1u, a_row(r, 1u, (*av)[r], at, base_lane), b0, b1, b2, b3);
    row1(acc, r, 2u, a_row(r, 2u, (*av)[r], at, base_lane), b0, b1, b2, b3);
    row1(acc, r, 3u, a_row(r, 3u, (*av)[r], at, base_lane), b0, b1, b2, b3);
    row1(acc, r, 4u, a_row(r, 4u, (*av)[r], at, base_lane), b0, b1, b2, b3);
    row1(acc, r, 5u, a_row(r, 5u, (*av)[r], at, base_lane), b0, b1, b2, b3);
    row1(acc, r, 6u, a_row(r, 6u, (*av)[r], at, base_lane), b0, b1, b2, b3);
    row1(acc, r, 7u, a_row(r, 7u, (*av)[r], at, base_lane), b0, b1, b2, b3);
}

// The 4 values of op(A) of tile row r·8 + l for this 4-step of k, from the lane holding them.
fn a_row(r: u32, l: u32, av: vec4<f32>, at: ptr<function, ChunksT>, base_lane: u32) -> vec4<f32> {
    if (TRANS_A == 1u) {
        let ci = 2u * r + l / 4u;
        let owner = base_lane + ci % 8u;
        let slot = ci / 8u;
        let comp = l % 4u;
        return vec4<f32>(subgroupShuffle((*at)[slot][0][comp], owner), subgroupShuffle((*at)[slot][1][comp], owner),
                         subgroupShuffle((*at)[slot][2][comp], owner), subgroupShuffle((*at)[slot][3][comp], owner));
    }
    return subgroupShuffle(av, base_lane + l);
}

// acc[r][l][j] += x · (b0[j], b1[j], b2[j], b3[j]) for every column group j.
fn row1(acc: ptr<function, Tile>, r: u32, l: u32, x: vec4<f32>,
        b0: ptr<function, Cols>, b1: ptr<function, Cols>, b2: ptr<function, Cols>, b3: ptr<function, Cols>) {
    for (var j = 0u; j < TN4; j++) {
        (*acc)[r][l][j] = (*acc)[r][l][j] + x.x * (*b0)[j] + x.y * (*b1)[j] + x.z * (*b2)[j] + x.w * (*b3)[j];
    }
}

// Writes (ACC_C = 0) or adds (ACC_C = 1) one vec4 of C.
fn store4(i: u32, v: vec4<f32>) {
    if (ACC_C == 1u) {
        c4[i] = c4[i] + v;
    } else {
        c4[i] = v;
    }
}

// bias[col … col + 3] of block z: zero without a bias and in the blocks of k-splits after the
// first (as finish in gemm_common.wgsl).
fn bias4(z: u32, col: u32) -> vec4<f32> {
    if (HAS_BIAS == 1u && z < p.batch) {
        let o = p.bias_off + col;
        return vec4<f32>(bias[o], bias[o + 1u], bias[o + 2u], bias[o + 3u]);
    }
    return vec4<f32>(0.0);
}

// The fused activation (unary_f, identity for OP = NO_ACT) of 4 finished values.
fn act4(v: vec4<f32>) -> vec4<f32> {
    return vec4<f32>(unary_f(v.x, 0.0, 0.0), unary_f(v.y, 0.0, 0.0), unary_f(v.z, 0.0, 0.0), unary_f(v.w, 0.0, 0.0));
}
