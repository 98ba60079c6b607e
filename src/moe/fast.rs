//! An allocation-free CPU forward pass of a trained student, for embedded inference
//! (`Policy::act`): the same maths as [`super::StudentNet::forward`] on plain `f32` slices
//! with preallocated scratch buffers. Only what acting needs is computed — the backbone's last
//! block attends from the last position only, the features of the last position feed the heads,
//! and the Cholesky head runs only when a full mixture is asked for.

use super::fast_linear::{param, Lin};
use super::{Mixtures, Student, StudentConfig};
use crate::cpu::elementwise::Unary;
use crate::cpu::gaussian::chol_fill;
use crate::cpu::rng::HostRng;
use crate::error::{Error, Result};
use crate::io::Normalization;
use crate::nn::ParamStore;

fn act_in_place(op: Unary, x: &mut [f32]) {
    // A constant op per loop, so each loop inlines to branch-free, vectorised maths.
    macro_rules! map {
        ($($o:ident),*) => {
            match op {
                $(Unary::$o => x.iter_mut().for_each(|v| *v = Unary::$o.f(*v)),)*
                other => x.iter_mut().for_each(|v| *v = other.f(*v)),
            }
        };
    }
    map!(Gelu, Mish, Silu, Relu, GeluTanh, Tanh, Sigmoid, Softplus)
}

fn layer_norm(x: &[f32], g: &[f32], b: &[f32], n: usize, y: &mut [f32]) {
    for (yr, xr) in y.chunks_exact_mut(n).zip(x.chunks_exact(n)) {
        let mu = xr.iter().sum::<f32>() / n as f32;
        let var = xr.iter().map(|v| (v - mu) * (v - mu)).sum::<f32>() / n as f32;
        let rs = 1.0 / (var + 1e-5).sqrt();
        for i in 0..n {
            yr[i] = (xr[i] - mu) * rs * g[i] + b[i];
        }
    }
}

enum Head {
    Plain(Vec<Lin>, Unary),
    Residual { input: Lin, blocks: Vec<(Lin, Lin)>, output: Lin, act: Unary },
}

impl Head {
    fn load(vals: &[f32], store: &ParamStore, name: &str, residual: bool, act: Unary) -> Result<Self> {
        if residual {
            let mut blocks = Vec::new();
            while store.find(&format!("{name}.block{}.l1.w", blocks.len())).is_some() {
                let i = blocks.len();
                blocks.push((
                    Lin::load(vals, store, &format!("{name}.block{i}.l1"))?,
                    Lin::load(vals, store, &format!("{name}.block{i}.l2"))?,
                ));
            }
            Ok(Head::Residual {
                input: Lin::load(vals, store, &format!("{name}.in"))?,
                blocks,
                output: Lin::load(vals, store, &format!("{name}.out"))?,
                act,
            })
        } else {
            let mut layers = vec![Lin::load(vals, store, &format!("{name}.in"))?];
            let mut i = 1;
            while store.find(&format!("{name}.hidden{i}.w")).is_some() {
                layers.push(Lin::load(vals, store, &format!("{name}.hidden{i}"))?);
                i += 1;
            }
            layers.push(Lin::load(vals, store, &format!("{name}.out"))?);
            Ok(Head::Plain(layers, act))
        }
    }

    fn widest(&self) -> usize {
        match self {
            Head::Plain(l, _) => l.iter().map(|l| l.o).max().unwrap_or(0),
            Head::Residual { input, output, .. } => input.o.max(output.o),
        }
    }

    /// `out = head(x)` over `rows` rows; `a`, `b`, `c` are scratch of ≥ rows × widest.
    fn apply(&self, x: &[f32], rows: usize, out: &mut [f32], a: &mut [f32], b: &mut [f32], c: &mut [f32]) {
        match self {
            Head::Plain(layers, act) => {
                let (first, rest) = layers.split_first().expect("an MLP has layers");
                let Some((last, hidden)) = rest.split_last() else {
                    first.apply(x, rows, out);
                    return;
                };
                first.apply(x, rows, &mut a[..rows * first.o]);
                act_in_place(*act, &mut a[..rows * first.o]);
                let mut in_a = true;
                for l in hidden {
                    let (src, dst) = if in_a { (&*a, &mut *b) } else { (&*b, &mut *a) };
                    l.apply(&src[..rows * l.i], rows, &mut dst[..rows * l.o]);
                    act_in_place(*act, &mut dst[..rows * l.o]);
                    in_a = !in_a;
                }
                let src = if in_a { &*a } else { &*b };
                last.apply(&src[..rows * last.i], rows, out);
            }
            Head::Residual { input, blocks, output, act } => {
                let h = input.o;
                input.apply(x, rows, &mut a[..rows * h]);
                for (l1, l2) in blocks {
                    b[..rows * h].copy_from_slice(&a[..rows * h]);
                    act_in_place(*act, &mut b[..rows * h]);
                    l1.apply(&b[..rows * h], rows, &mut c[..rows * h]);
                    b[..rows * h].copy_from_slice(&c[..rows * h]);
                    act_in_place(*act, &mut b[..rows * h]);
                    l2.apply(&b[..rows * h], rows, &mut c[..rows * h]);
                    a[..rows * h].iter_mut().zip(&c[..rows * h]).for_each(|(x, y)| *x += y);
                }
                output.apply(&a[..rows * h], rows, out);
            }
        }
    }
}

struct Block {
    ln1: (Vec<f32>, Vec<f32>),
    /// Q, K and V projections fused: `[E, 3E]`.
    qkv: Lin,
    o: Lin,
    ln2: (Vec<f32>, Vec<f32>),
    up: Lin,
    down: Lin,
}

/// `x += o(y)`, then `x += down(GELU(up(LN2 x)))` over `rows` rows.
fn mlp(blk: &Block, e: usize, rows: usize, x: &mut [f32], y: &[f32], h: &mut [f32], up: &mut [f32]) {
    blk.o.apply(y, rows, h);
    x.iter_mut().zip(h.iter()).for_each(|(x, h)| *x += h);
    layer_norm(x, &blk.ln2.0, &blk.ln2.1, e, h);
    blk.up.apply(h, rows, up);
    act_in_place(Unary::Gelu, up);
    blk.down.apply(up, rows, h);
    x.iter_mut().zip(h.iter()).for_each(|(x, h)| *x += h);
}

struct Backbone {
    tok: Lin,
    pos: Vec<f32>,
    blocks: Vec<Block>,
    ln_f: (Vec<f32>, Vec<f32>),
    head1: Lin,
    head2: Lin,
    width: usize,
    heads: usize,
}

/// Scratch buffers, grown on first use for a batch size and reused after.
#[derive(Default)]
struct Scratch {
    rows: usize,
    x: Vec<f32>,
    h: Vec<f32>,
    /// Fused Q|K|V rows `[rows·T, 3E]`.
    q: Vec<f32>,
    y: Vec<f32>,
    up: Vec<f32>,
    tmp: Vec<f32>,
    feat: Vec<f32>,
    a: Vec<f32>,
    b: Vec<f32>,
    c: Vec<f32>,
    mean: Vec<f32>,
    raw: Vec<f32>,
    gate: Vec<f32>,
    obs: Vec<f32>,
}

/// The allocation-free CPU forward of a student (see the module docs).
pub struct FastStudent {
    cfg: StudentConfig,
    norm: Normalization,
    backbone: Option<Backbone>,
    mean: Head,
    cov: Head,
    gating: Option<Head>,
    s: Scratch,
}

fn ln(vals: &[f32], store: &ParamStore, name: &str) -> Result<(Vec<f32>, Vec<f32>)> {
    let get = |n: String| param(vals, store, &n).map(|(_, v)| v.to_vec());
    Ok((get(format!("{name}.gamma"))?, get(format!("{name}.beta"))?))
}

impl FastStudent {
    /// Copies a student's weights into the fast forward.
    ///
    /// # Errors
    /// Read-back errors; [`Error::InvalidArgument`] if a parameter is missing.
    pub fn new(student: &Student) -> Result<Self> {
        let store = &student.store;
        let vals = store.flat().to_vec()?;
        let cfg = student.cfg().clone();
        let backbone = match &cfg.gpt {
            Some(g) => {
                let blocks = (0..g.layers)
                    .map(|i| -> Result<Block> {
                        let p = format!("gpt.block{i}");
                        Ok(Block {
                            ln1: ln(&vals, store, &format!("{p}.ln1"))?,
                            qkv: Lin::concat(&[
                                Lin::load(&vals, store, &format!("{p}.attn.q"))?,
                                Lin::load(&vals, store, &format!("{p}.attn.k"))?,
                                Lin::load(&vals, store, &format!("{p}.attn.v"))?,
                            ]),
                            o: Lin::load(&vals, store, &format!("{p}.attn.o"))?,
                            ln2: ln(&vals, store, &format!("{p}.ln2"))?,
                            up: Lin::load(&vals, store, &format!("{p}.up"))?,
                            down: Lin::load(&vals, store, &format!("{p}.down"))?,
                        })
                    })
                    .collect::<Result<Vec<_>>>()?;
                Some(Backbone {
                    tok: Lin::load(&vals, store, "tok")?,
                    pos: param(&vals, store, "gpt.pos")?.1.to_vec(),
                    blocks,
                    ln_f: ln(&vals, store, "gpt.ln_f")?,
                    head1: Lin::load(&vals, store, "head1")?,
                    head2: Lin::load(&vals, store, "head2")?,
                    width: g.width,
                    heads: g.heads,
                })
            }
            None => None,
        };
        let mean = Head::load(&vals, store, "mean", cfg.mean.residual, cfg.mean.act.unary())?;
        let cov = Head::load(&vals, store, "cov", cfg.cov.residual, cfg.cov.act.unary())?;
        let gating = match cfg.gating {
            Some(_) => Some(Head::load(&vals, store, "gating", true, Unary::Mish)?),
            None => None,
        };
        Ok(FastStudent { cfg, norm: student.norm.clone(), backbone, mean, cov, gating, s: Scratch::default() })
    }

    /// The student's configuration.
    pub fn cfg(&self) -> &StudentConfig {
        &self.cfg
    }

    fn reserve(&mut self, rows: usize) {
        if rows <= self.s.rows {
            return;
        }
        let c = &self.cfg;
        let t = c.window;
        let (e, feat) = self.backbone.as_ref().map_or((0, c.obs_dim), |b| (b.width, c.feature));
        let wide = self
            .mean
            .widest()
            .max(self.cov.widest())
            .max(self.gating.as_ref().map_or(0, Head::widest))
            .max(feat)
            .max(128);
        let s = &mut self.s;
        let grow = |v: &mut Vec<f32>, n: usize| v.resize(n, 0.0);
        let bt = rows * t;
        for v in [&mut s.x, &mut s.h, &mut s.y] {
            grow(v, bt * e.max(1));
        }
        grow(&mut s.q, bt * 3 * e.max(1));
        grow(&mut s.up, bt * 4 * e.max(1));
        grow(&mut s.tmp, (bt * 4 * e).max(rows * wide));
        grow(&mut s.feat, rows * feat.max(128));
        for v in [&mut s.a, &mut s.b, &mut s.c] {
            grow(v, rows * wide);
        }
        grow(&mut s.mean, rows * c.experts * c.act_dim);
        grow(&mut s.raw, rows * c.experts * c.chol_params());
        grow(&mut s.gate, rows * c.experts);
        grow(&mut s.obs, bt * c.obs_dim);
        s.rows = rows;
    }

    /// Features of the last position `[n, H]` into `s.feat`, and the gating probabilities
    /// `[n, Z]` into `s.gate`, for raw observation windows `[n, t, obs_dim]`.
    fn features(&mut self, obs: &[f64], t: usize) -> Result<usize> {
        let c = &self.cfg;
        let sd = c.obs_dim;
        if t == 0 || t > c.window || !obs.len().is_multiple_of(t * sd) {
            return Err(Error::shape(
                "policy",
                format!("{} observation values for windows of {t} × {sd} (window ≤ {})", obs.len(), c.window),
            ));
        }
        let n = obs.len() / (t * sd);
        self.reserve(n);
        let s = &mut self.s;
        for (i, (o, &v)) in s.obs.iter_mut().zip(obs).enumerate() {
            let k = i % sd;
            *o = ((v - self.norm.state_mean[k]) / self.norm.state_std[k]) as f32;
        }
        match &self.backbone {
            None => {
                for r in 0..n {
                    s.feat[r * sd..(r + 1) * sd].copy_from_slice(&s.obs[(r * t + t - 1) * sd..][..sd]);
                }
            }
            Some(bb) => {
                let (e, hd) = (bb.width, bb.width / bb.heads);
                let bt = n * t;
                bb.tok.apply(&s.obs, bt, &mut s.x[..bt * e]);
                for r in 0..bt {
                    let p = &bb.pos[(r % t) * e..][..e];
                    s.x[r * e..(r + 1) * e].iter_mut().zip(p).for_each(|(x, p)| *x += p);
                }
                let scale = 1.0 / (hd as f32).sqrt();
                let nb = bb.blocks.len();
                for (li, blk) in bb.blocks.iter().enumerate() {
                    // In the last block only the last position's output is needed.
                    let last = li + 1 == nb;
                    layer_norm(&s.x[..bt * e], &blk.ln1.0, &blk.ln1.1, e, &mut s.h[..bt * e]);
                    blk.qkv.apply(&s.h, bt, &mut s.q[..bt * 3 * e]);
                    for b in 0..n {
                        for i in (if last { t - 1 } else { 0 })..t {
                            let qi = (b * t + i) * 3 * e;
                            for h in 0..bb.heads {
                                let mut m = f32::NEG_INFINITY;
                                let sc = &mut s.tmp[..=i];
                                for (j, scj) in sc.iter_mut().enumerate() {
                                    let kj = (b * t + j) * 3 * e + e + h * hd;
                                    *scj = scale * (0..hd).map(|d| s.q[qi + h * hd + d] * s.q[kj + d]).sum::<f32>();
                                    m = m.max(*scj);
                                }
                                let mut z = 0.0;
                                sc.iter_mut().for_each(|v| {
                                    *v = (*v - m).exp();
                                    z += *v;
                                });
                                let yi = (b * t + i) * e;
                                let yo = &mut s.y[yi + h * hd..yi + (h + 1) * hd];
                                yo.iter_mut().for_each(|v| *v = 0.0);
                                for (j, &w) in sc.iter().enumerate() {
                                    let vj = &s.q[(b * t + j) * 3 * e + 2 * e + h * hd..][..hd];
                                    yo.iter_mut().zip(vj).for_each(|(y, &v)| *y += w / z * v);
                                }
                            }
                        }
                    }
                    // Output projection and MLP over every position at once (weights read once
                    // per 8 rows); in the last block only over a compact copy of the last positions.
                    if !last {
                        mlp(
                            blk,
                            e,
                            bt,
                            &mut s.x[..bt * e],
                            &s.y[..bt * e],
                            &mut s.h[..bt * e],
                            &mut s.up[..bt * 4 * e],
                        );
                    } else {
                        for b in 0..n {
                            let r = (b * t + t - 1) * e;
                            s.a[b * e..(b + 1) * e].copy_from_slice(&s.x[r..r + e]);
                            s.b[b * e..(b + 1) * e].copy_from_slice(&s.y[r..r + e]);
                        }
                        mlp(blk, e, n, &mut s.a[..n * e], &s.b[..n * e], &mut s.h[..n * e], &mut s.up[..n * 4 * e]);
                    }
                }
                // Final LayerNorm of the last positions (compact in `a` after the last block).
                if nb == 0 {
                    for b in 0..n {
                        let r = (b * t + t - 1) * e;
                        s.a[b * e..(b + 1) * e].copy_from_slice(&s.x[r..r + e]);
                    }
                }
                for b in 0..n {
                    layer_norm(&s.a[b * e..(b + 1) * e], &bb.ln_f.0, &bb.ln_f.1, e, &mut s.h[b * e..(b + 1) * e]);
                }
                bb.head1.apply(&s.h[..n * e], n, &mut s.a[..n * bb.head1.o]);
                act_in_place(Unary::Silu, &mut s.a[..n * bb.head1.o]);
                bb.head2.apply(&s.a[..n * bb.head1.o], n, &mut s.feat[..n * bb.head2.o]);
            }
        }
        let z = self.cfg.experts;
        let fw = self.backbone.as_ref().map_or(sd, |b| b.head2.o);
        match &self.gating {
            Some(g) => {
                g.apply(&s.feat[..n * fw], n, &mut s.gate[..n * z], &mut s.a, &mut s.b, &mut s.c);
                for row in s.gate[..n * z].chunks_mut(z) {
                    let m = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                    let sum: f32 = row.iter().map(|v| (v - m).exp()).sum();
                    row.iter_mut().for_each(|v| *v = (*v - m).exp() / sum);
                }
            }
            None => s.gate[..n * z].iter_mut().for_each(|v| *v = 1.0 / z as f32),
        }
        Ok(n)
    }

    /// Actions (raw units) for raw observation windows `[n, t, obs_dim]`: sample an expert from
    /// the gating (`greedy`: the most probable) and take its mean. Writes `[n, act_dim]` into
    /// `out`, which must be that long. No allocation once the scratch has grown to `n`.
    ///
    /// # Errors
    /// [`Error::Shape`] for inconsistent lengths.
    pub fn act_into(&mut self, obs: &[f64], t: usize, greedy: bool, rng: &mut HostRng, out: &mut [f64]) -> Result<()> {
        let n = self.features(obs, t)?;
        let (z, d) = (self.cfg.experts, self.cfg.act_dim);
        if out.len() != n * d {
            return Err(Error::shape("policy", format!("output of {} values for {n} actions of {d}", out.len())));
        }
        let fw = self.backbone.as_ref().map_or(self.cfg.obs_dim, |b| b.head2.o);
        let s = &mut self.s;
        self.mean.apply(&s.feat[..n * fw], n, &mut s.mean[..n * z * d], &mut s.a, &mut s.b, &mut s.c);
        for r in 0..n {
            let g = &s.gate[r * z..(r + 1) * z];
            let k = if greedy {
                (0..z).max_by(|&a, &b| g[a].total_cmp(&g[b])).unwrap_or(0)
            } else {
                let u = rng.uniform() as f32;
                let mut acc = 0.0;
                (0..z)
                    .find(|&i| {
                        acc += g[i];
                        u < acc
                    })
                    .unwrap_or(z - 1)
            };
            for j in 0..d {
                out[r * d + j] =
                    f64::from(s.mean[(r * z + k) * d + j]) * self.norm.action_std[j] + self.norm.action_mean[j];
            }
        }
        Ok(())
    }

    /// The full mixtures at the last position of raw windows `[n, t, obs_dim]` (raw units).
    ///
    /// # Errors
    /// [`Error::Shape`] for inconsistent lengths.
    pub fn mixtures(&mut self, obs: &[f64], t: usize) -> Result<Mixtures> {
        let n = self.features(obs, t)?;
        let c = &self.cfg;
        let (z, d, k) = (c.experts, c.act_dim, c.chol_params());
        let fw = self.backbone.as_ref().map_or(c.obs_dim, |b| b.head2.o);
        let s = &mut self.s;
        self.mean.apply(&s.feat[..n * fw], n, &mut s.mean[..n * z * d], &mut s.a, &mut s.b, &mut s.c);
        self.cov.apply(&s.feat[..n * fw], n, &mut s.raw[..n * z * k], &mut s.a, &mut s.b, &mut s.c);
        let mut chols = vec![0f32; n * z * d * d];
        chol_fill(&c.chol_fill(), &s.raw[..n * z * k], &mut chols);
        let std = &self.norm.action_std;
        let mut m = Mixtures { n, experts: z, dim: d, weights: Vec::new(), means: Vec::new(), chols: Vec::new() };
        for r in 0..n {
            m.weights.extend(s.gate[r * z..(r + 1) * z].iter().map(|&v| f64::from(v)));
            for e in 0..z {
                let mu = &s.mean[(r * z + e) * d..][..d];
                m.means.extend(mu.iter().enumerate().map(|(j, &v)| f64::from(v) * std[j] + self.norm.action_mean[j]));
                let l = &chols[(r * z + e) * d * d..][..d * d];
                m.chols.extend(l.iter().enumerate().map(|(e2, &v)| f64::from(v) * std[e2 / d]));
            }
        }
        Ok(m)
    }
}
