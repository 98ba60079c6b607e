//! Reverse-mode autodiff: a tape of backward closures that *record* kernels.
//!
//! A [`Tape`] lives for one forward/backward pass. Every differentiable op on [`Var`]s runs its
//! forward op (on the GPU that records dispatches) and, when an input needs a gradient, pushes a
//! node holding a backward closure. [`Tape::backward`] walks the nodes in reverse creation order
//! (a topological order), hands each node the gradient of its output, and accumulates the
//! gradients it returns into its parents — summing where a value was used more than once. A
//! node's closure and gradient are dropped as soon as it has run, which frees the intermediates
//! the closure captured. Parameter gradients accumulate directly into the parameter store's flat
//! gradient buffer, so the optimiser can update every parameter in one fused dispatch.
//!
//! Nothing here submits: on the GPU a whole step (forward, backward, optimiser) is recorded into
//! one command stream and submitted once, when the loss is read back.

mod ops;

use crate::device::Device;
use crate::error::{Error, Result};
use crate::nn::{ParamId, ParamStore};
use crate::tensor::{ops as t, Tensor};
use std::cell::{Cell, RefCell};

/// A backward closure: given the gradient of the node's output, the gradients of its parents
/// (in order; `None` for a parent that needs none).
type Backward = Box<dyn FnOnce(&Tensor) -> Result<Vec<Option<Tensor>>>>;

/// A backward closure that also takes the gradient accumulated so far for its first parent
/// (if any) and returns that parent's *total*: it may add its contribution in place, inside
/// the kernel that computes it, instead of a separate sum.
type BackwardAcc = Box<dyn FnOnce(&Tensor, Option<Tensor>) -> Result<Vec<Option<Tensor>>>>;

enum Bwd {
    Plain(Backward),
    AccFirst(BackwardAcc),
}

struct Node {
    parents: Vec<usize>,
    backward: Option<Bwd>,
    param: Option<ParamId>,
}

/// A value on a tape: a tensor, and the node whose gradient it receives (none for constants).
#[derive(Clone)]
pub struct Var {
    value: Tensor,
    node: Option<usize>,
}

impl Var {
    /// The forward value.
    pub fn value(&self) -> &Tensor {
        &self.value
    }

    /// Its shape.
    pub fn shape(&self) -> &[usize] {
        self.value.shape()
    }

    /// Whether gradients flow back through this value.
    pub fn requires_grad(&self) -> bool {
        self.node.is_some()
    }

    /// The same value cut from the graph (gradients stop here).
    pub fn detach(&self) -> Var {
        Var { value: self.value.clone(), node: None }
    }
}

/// One forward/backward pass over the parameters of a [`ParamStore`].
pub struct Tape<'s> {
    store: &'s ParamStore,
    nodes: RefCell<Vec<Node>>,
    training: bool,
    grads: bool,
    seed: u64,
    streams: Cell<u64>,
}

impl<'s> Tape<'s> {
    /// A tape over `store`. `training` enables dropout; `seed` keys its random streams (each
    /// dropout call takes the next stream, so a seeded step is reproducible).
    pub fn new(store: &'s ParamStore, training: bool, seed: u64) -> Self {
        Tape { store, nodes: RefCell::default(), training, grads: true, seed, streams: Cell::new(0) }
    }

    /// A tape that only evaluates (acting, sampling, scores): no dropout, and parameters
    /// enter as constants, so nothing is recorded for backward and ops may fuse (e.g.
    /// [`Tape::linear_act`]).
    pub fn inference(store: &'s ParamStore) -> Self {
        Tape { grads: false, ..Tape::new(store, false, 0) }
    }

    /// The device of the parameters.
    pub fn device(&self) -> Device {
        self.store.device()
    }

    /// Whether dropout is active.
    pub fn training(&self) -> bool {
        self.training
    }

    /// The parameter store.
    pub fn store(&self) -> &'s ParamStore {
        self.store
    }

    /// The next random stream `(seed, offset)` of this tape.
    pub fn next_stream(&self) -> (u64, u64) {
        let s = self.streams.get();
        self.streams.set(s + 1);
        (self.seed, s)
    }

    /// A parameter as a leaf that receives gradients.
    pub fn param(&self, id: ParamId) -> Var {
        if !self.grads {
            return self.constant(self.store.tensor(id));
        }
        let mut nodes = self.nodes.borrow_mut();
        nodes.push(Node { parents: Vec::new(), backward: None, param: Some(id) });
        Var { value: self.store.tensor(id), node: Some(nodes.len() - 1) }
    }

    /// The gradient slot of a parameter leaf made by [`Tape::param`] (`None` for other values).
    fn param_grad(&self, v: &Var) -> Option<Tensor> {
        let id = self.nodes.borrow()[v.node?].param?;
        Some(self.store.grad(id))
    }

    /// The gradient slots of a layer's weight and optional bias when both are parameter leaves:
    /// their backward may then add to the store directly.
    pub(crate) fn param_slots(&self, w: &Var, b: Option<&Var>) -> Option<(Tensor, Option<Tensor>)> {
        let gw = self.param_grad(w)?;
        match b {
            None => Some((gw, None)),
            Some(b) => Some((gw, Some(self.param_grad(b)?))),
        }
    }

    /// A value that receives no gradient (inputs, targets).
    pub fn constant(&self, value: Tensor) -> Var {
        Var { value, node: None }
    }

    /// Records an op's output. `backward` is kept only if some input needs a gradient.
    pub(crate) fn record(
        &self,
        value: Tensor,
        inputs: &[&Var],
        backward: impl FnOnce(&Tensor) -> Result<Vec<Option<Tensor>>> + 'static,
    ) -> Var {
        self.push(value, inputs, || Bwd::Plain(Box::new(backward)))
    }

    /// As [`Tape::record`], with a backward that accumulates into its first parent's gradient
    /// (see [`BackwardAcc`]).
    pub(crate) fn record_acc(
        &self,
        value: Tensor,
        inputs: &[&Var],
        backward: impl FnOnce(&Tensor, Option<Tensor>) -> Result<Vec<Option<Tensor>>> + 'static,
    ) -> Var {
        self.push(value, inputs, || Bwd::AccFirst(Box::new(backward)))
    }

    /// Pushes a node for an op's output unless no input needs a gradient (the backward is
    /// then dropped unbuilt).
    fn push(&self, value: Tensor, inputs: &[&Var], backward: impl FnOnce() -> Bwd) -> Var {
        if inputs.iter().all(|v| v.node.is_none()) {
            return Var { value, node: None };
        }
        let mut nodes = self.nodes.borrow_mut();
        // Inputs without a node get index usize::MAX: their gradients are discarded.
        let parents = inputs.iter().map(|v| v.node.unwrap_or(usize::MAX)).collect();
        nodes.push(Node { parents, backward: Some(backward()), param: None });
        Var { value, node: Some(nodes.len() - 1) }
    }

    /// Number of nodes recorded so far.
    pub fn len(&self) -> usize {
        self.nodes.borrow().len()
    }

    /// Whether nothing has been recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Back-propagates from the scalar `loss` and accumulates every parameter's gradient into
    /// the store's gradient buffer, which is zeroed first (parameters the loss does not reach
    /// get zero). Consumes the tape.
    ///
    /// # Errors
    /// [`Error::Shape`] if `loss` is not a single element; [`Error::InvalidArgument`] if it
    /// does not depend on any parameter; op errors from the backward closures.
    pub fn backward(self, loss: &Var) -> Result<()> {
        if loss.value.numel() != 1 {
            return Err(Error::shape("backward", format!("loss must have one element, got {:?}", loss.shape())));
        }
        let seed = Tensor::full(&loss.value.device(), loss.shape(), 1.0)?;
        self.backward_with(loss, seed)
    }

    /// Back-propagates the gradient `grad` of `out` (same shape as `out`).
    ///
    /// # Errors
    /// As [`Tape::backward`].
    pub fn backward_with(self, out: &Var, grad: Tensor) -> Result<()> {
        self.backward_many(&[(out, grad)])
    }

    /// Back-propagates given gradients of several outputs at once (e.g. closed-form gradients
    /// of a loss with respect to a network's heads): the parameter gradients are the sum of
    /// every output's contribution. Outputs that depend on no parameter are skipped; at least
    /// one must depend on one.
    ///
    /// # Errors
    /// [`Error::Shape`] if a gradient's shape differs from its output's;
    /// [`Error::InvalidArgument`] if no output depends on a parameter; op errors.
    pub fn backward_many(self, outs: &[(&Var, Tensor)]) -> Result<()> {
        for (out, grad) in outs {
            if grad.shape() != out.shape() {
                return Err(Error::shape(
                    "backward",
                    format!("gradient {:?} for output {:?}", grad.shape(), out.shape()),
                ));
            }
        }
        let Some(root) = outs.iter().filter_map(|(o, _)| o.node).max() else {
            return Err(Error::invalid("backward", "the output does not depend on any parameter"));
        };
        self.store.zero_grads()?;
        let mut nodes = self.nodes.into_inner();
        let mut grads: Vec<Option<Tensor>> = vec![None; nodes.len()];
        for (out, grad) in outs {
            if let Some(n) = out.node {
                grads[n] = Some(match grads[n].take() {
                    None => grad.clone(),
                    Some(acc) => t::binary(&acc, grad, crate::cpu::elementwise::Binary::Add)?,
                });
            }
        }
        for i in (0..=root).rev() {
            let Some(g) = grads[i].take() else { continue };
            let node = &mut nodes[i];
            if let Some(id) = node.param {
                self.store.accumulate_grad(id, &g)?;
                continue;
            }
            let parent_grads = match node.backward.take() {
                None => continue,
                Some(Bwd::Plain(backward)) => backward(&g)?,
                Some(Bwd::AccFirst(backward)) => {
                    let first = node.parents.first().copied().filter(|&p| p != usize::MAX);
                    let acc = first.and_then(|p| grads[p].take());
                    let had = acc.is_some();
                    let out = backward(&g, acc)?;
                    if had && out.first().is_none_or(Option::is_none) {
                        return Err(Error::invalid("backward", "an accumulating backward dropped a gradient"));
                    }
                    out
                }
            };
            for (&p, pg) in node.parents.iter().zip(parent_grads) {
                let Some(pg) = pg else { continue };
                if p == usize::MAX {
                    continue;
                }
                grads[p] = Some(match grads[p].take() {
                    None => pg,
                    Some(acc) => t::binary(&acc, &pg, crate::cpu::elementwise::Binary::Add)?,
                });
            }
        }
        Ok(())
    }
}
