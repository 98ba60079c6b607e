//! The GEMM kernel table: the three kernels of `shaders/matmul/` (the subgroup kernel also with
//! a texture-mirror operand), their shader libraries, and every define combination launchers use
//! (validated by the naga test).

use super::super::{shader, Kernel, Source, LINEAR_TEXTURE, R, T, W};

const COMMON: Source = shader!("matmul/gemm_common.wgsl");
const UNARY_OPS: Source = shader!("elementwise/unary_ops.wgsl");
const SCALAR: Source = shader!("matmul/gemm_scalar.wgsl");
const OPERAND_A_BUFFER: Source = shader!("matmul/operand_a_buffer.wgsl");
const OPERAND_B_BUFFER: Source = shader!("matmul/operand_b_buffer.wgsl");
const OPERAND_A_TEXTURE: Source = shader!("matmul/operand_a_texture.wgsl");
const OPERAND_B_TEXTURE: Source = shader!("matmul/operand_b_texture.wgsl");
const STORAGE: &[crate::device::Access] = &[R, R, R, W];

/// Register-tiled GEMM without shared memory (any shape).
pub const GEMM_TILE: Kernel = Kernel {
    source: shader!("matmul/gemm_tile.wgsl"),
    includes: &[UNARY_OPS, COMMON, SCALAR],
    entry: "main",
    storage: STORAGE,
    variants: &TILE_VARIANTS,
};
/// Shared-memory tiled GEMM (GPUs with cheap barriers): [`GEMM_TILE`]'s libraries and bindings.
pub const GEMM_SHARED: Kernel =
    Kernel { source: shader!("matmul/gemm_shared.wgsl"), variants: &SHARED_VARIANTS, ..GEMM_TILE };
/// Subgroup-cooperative vec4 GEMM (CPU-like adapters with 8-wide subgroups).
pub const GEMM_SG8: Kernel = Kernel {
    source: shader!("matmul/gemm_sg8.wgsl"),
    includes: &[UNARY_OPS, COMMON, OPERAND_A_BUFFER, OPERAND_B_BUFFER],
    entry: "main",
    storage: STORAGE,
    variants: &SG8_VARIANTS,
};
/// [`GEMM_SG8`] reading A through its buffer's texture mirror (a read-mostly A).
pub const GEMM_SG8_TEX_A: Kernel = Kernel {
    includes: &[UNARY_OPS, COMMON, LINEAR_TEXTURE, OPERAND_A_TEXTURE, OPERAND_B_BUFFER],
    storage: &[T, R, R, W],
    variants: &SG8_TEX_A_VARIANTS,
    ..GEMM_SG8
};
/// [`GEMM_SG8`] reading B through its buffer's texture mirror (a read-mostly B).
pub const GEMM_SG8_TEX_B: Kernel = Kernel {
    includes: &[UNARY_OPS, COMMON, LINEAR_TEXTURE, OPERAND_A_BUFFER, OPERAND_B_TEXTURE],
    storage: &[R, T, R, W],
    variants: &SG8_TEX_B_VARIANTS,
    ..GEMM_SG8
};

/// The `OP` define of a product without a fused activation (the identity branch of
/// `unary_f`).
pub const NO_ACT: u32 = u32::MAX;

/// Every kernel of the family.
pub const KERNELS: &[Kernel] = &[GEMM_TILE, GEMM_SHARED, GEMM_SG8, GEMM_SG8_TEX_A, GEMM_SG8_TEX_B];

macro_rules! variants {
    ($($x:expr),* $(,)?) => { [$(&$x),*] };
}
const TILE_VARIANTS: [&[(&str, u32)]; 4] = variants![
    [("TM", 4), ("TN", 4), ("TRANS_A", 0), ("TRANS_B", 0), ("HAS_BIAS", 1), ("OP", NO_ACT)],
    [("TM", 4), ("TN", 4), ("TRANS_A", 1), ("TRANS_B", 1), ("HAS_BIAS", 0), ("OP", NO_ACT)],
    [("TM", 8), ("TN", 8), ("TRANS_A", 0), ("TRANS_B", 1), ("HAS_BIAS", 0), ("OP", NO_ACT)],
    [("TM", 1), ("TN", 1), ("TRANS_A", 1), ("TRANS_B", 0), ("HAS_BIAS", 1), ("OP", 13)],
];
const SHARED_VARIANTS: [&[(&str, u32)]; 2] = variants![
    [
        ("TM", 4),
        ("TN", 4),
        ("WGX", 16),
        ("WGY", 16),
        ("BK", 16),
        ("TRANS_A", 0),
        ("TRANS_B", 0),
        ("HAS_BIAS", 1),
        ("OP", NO_ACT)
    ],
    [
        ("TM", 2),
        ("TN", 4),
        ("WGX", 8),
        ("WGY", 8),
        ("BK", 8),
        ("TRANS_A", 1),
        ("TRANS_B", 1),
        ("HAS_BIAS", 0),
        ("OP", 11)
    ],
];
/// Defines of the subgroup kernel with a texture operand (`TEX` 1: A, 2: B), as the training
/// step's products over the parameters use them.
const SG8_TEX_A_VARIANTS: [&[(&str, u32)]; 1] = variants![[
    ("TM", 72),
    ("TN4", 3),
    ("TRANS_C", 1),
    ("ACC_C", 0),
    ("BIAS_ROW", 0),
    ("TRANS_A", 1),
    ("TRANS_B", 1),
    ("HAS_BIAS", 1),
    ("OP", NO_ACT),
    ("TEX", 1)
]];
const SG8_TEX_B_VARIANTS: [&[(&str, u32)]; 2] = variants![
    [
        ("TM", 64),
        ("TN4", 2),
        ("TRANS_C", 0),
        ("ACC_C", 0),
        ("BIAS_ROW", 0),
        ("TRANS_A", 0),
        ("TRANS_B", 0),
        ("HAS_BIAS", 1),
        ("OP", 9),
        ("TEX", 2)
    ],
    [
        ("TM", 64),
        ("TN4", 2),
        ("TRANS_C", 0),
        ("ACC_C", 1),
        ("BIAS_ROW", 0),
        ("TRANS_A", 0),
        ("TRANS_B", 1),
        ("HAS_BIAS", 0),
        ("OP", NO_ACT),
        ("TEX", 2)
    ],
];
const SG8_VARIANTS: [&[(&str, u32)]; 6] = variants![
    [
        ("TM", 32),
        ("TN4", 2),
        ("TRANS_C", 0),
        ("ACC_C", 0),
        ("BIAS_ROW", 0),
        ("TRANS_A", 0),
        ("TRANS_B", 0),
        ("HAS_BIAS", 1),
        ("OP", NO_ACT),
        ("TEX", 0)
    ],
    [
        ("TM", 32),
        ("TN4", 2),
        ("TRANS_C", 0),
        ("ACC_C", 1),
        ("BIAS_ROW", 1),
        ("TRANS_A", 1),
        ("TRANS_B", 0),
        ("HAS_BIAS", 0),
        ("OP", NO_ACT),
        ("TEX", 0)
    ],
    [
        ("TM", 16),
        ("TN4", 1),
        ("TRANS_C", 1),
        ("ACC_C", 0),
        ("BIAS_ROW", 0),
        ("TRANS_A", 0),
        ("TRANS_B", 1),
        ("HAS_BIAS", 0),
        ("OP", NO_ACT),
        ("TEX", 0)
    ],
    [
        ("TM", 8),
        ("TN4", 1),
        ("TRANS_C", 0),
        ("ACC_C", 0),
        ("BIAS_ROW", 0),
        ("TRANS_A", 1),
        ("TRANS_B", 1),
        ("HAS_BIAS", 1),
        ("OP", 12),
        ("TEX", 0)
    ],
    [
        ("TM", 72),
        ("TN4", 2),
        ("TRANS_C", 1),
        ("ACC_C", 1),
        ("BIAS_ROW", 0),
        ("TRANS_A", 1),
        ("TRANS_B", 1),
        ("HAS_BIAS", 1),
        ("OP", 11),
        ("TEX", 0)
    ],
    [
        ("TM", 64),
        ("TN4", 3),
        ("TRANS_C", 0),
        ("ACC_C", 0),
        ("BIAS_ROW", 1),
        ("TRANS_A", 1),
        ("TRANS_B", 0),
        ("HAS_BIAS", 0),
        ("OP", NO_ACT),
        ("TEX", 0)
    ],
];
