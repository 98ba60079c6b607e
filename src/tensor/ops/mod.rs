//! Ops over tensors. Each op checks shapes and devices, then records the GPU kernel or runs
//! the CPU twin. Backward ops (`*_bwd`) are ops too: the autodiff tape composes them.

mod attention;
mod chain;
mod copy;
mod diffusion;
mod elementwise;
mod gaussian;
mod matmul;
mod norm;
mod random;
mod reduce;
mod transformer;

pub use attention::*;
pub use chain::*;
pub use copy::*;
pub use diffusion::*;
pub use elementwise::*;
pub use gaussian::*;
pub use matmul::*;
pub use norm::*;
pub use random::*;
pub use reduce::*;
pub use transformer::*;

use super::Tensor;
use crate::kernels::elementwise::Span;

/// The (buffer, element offset) a GPU launcher reads or writes.
pub(crate) fn span(t: &Tensor) -> Span<'_> {
    Span { buf: t.buffer(), off: t.off() }
}
