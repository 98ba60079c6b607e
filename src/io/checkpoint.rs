//! Checkpoints: safetensors files whose header metadata carries one JSON document (`"vdd"`)
//! describing what the tensors are. Every load checks format, version, kind and shapes and names
//! the problem when something does not fit.

use super::write_atomic;
use crate::error::{Error, Result};
use crate::nn::ParamStore;
use safetensors::{Dtype, SafeTensors};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;

/// Version of the metadata layout; bumped on incompatible changes.
pub const FORMAT_VERSION: u32 = 1;
const KEY: &str = "vdd";

/// The JSON metadata of a checkpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    /// Always `"vdd"`.
    pub format: String,
    /// [`FORMAT_VERSION`] at writing time.
    pub version: u32,
    /// What the file holds: `teacher-beso`, `teacher-ddpm`, `student`.
    pub kind: String,
    /// The task it was trained on.
    pub task: String,
    /// Model configuration (kind-specific JSON).
    pub model: serde_json::Value,
    /// Normalisation statistics: per-dimension `state_mean`, `state_std`, `action_mean`, `action_std`.
    pub normalization: serde_json::Value,
    /// Training configuration.
    pub training: serde_json::Value,
    /// Seed of the run.
    pub seed: u64,
    /// `git rev-parse HEAD` of the source, when known.
    pub git_revision: Option<String>,
    /// Free-form results (metrics at save time, step reached).
    #[serde(default)]
    pub extra: serde_json::Value,
}

impl Meta {
    /// Metadata of the current format for `kind`.
    pub fn new(kind: &str, task: &str, seed: u64) -> Self {
        Meta {
            format: KEY.into(),
            version: FORMAT_VERSION,
            kind: kind.into(),
            task: task.into(),
            model: serde_json::Value::Null,
            normalization: serde_json::Value::Null,
            training: serde_json::Value::Null,
            seed,
            git_revision: git_revision(),
            extra: serde_json::Value::Null,
        }
    }
}

/// A loaded checkpoint: metadata and named f32 tensors (shape, values).
#[derive(Clone, Debug)]
pub struct Checkpoint {
    /// Its metadata.
    pub meta: Meta,
    /// Tensors by name.
    pub tensors: HashMap<String, (Vec<usize>, Vec<f32>)>,
}

/// The git revision of the working directory, when git and a repository are available.
pub fn git_revision() -> Option<String> {
    let out = std::process::Command::new("git").args(["rev-parse", "HEAD"]).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Saves every parameter of `store` (by name, with its shape) and `meta`, atomically
/// (`values`: flat parameters to write instead of the store's current ones).
///
/// # Errors
/// [`Error::Io`]; device errors reading the parameters.
pub fn save(path: &Path, meta: &Meta, store: &ParamStore, values: Option<&[f32]>) -> Result<()> {
    let flat: Vec<f32> = match values {
        Some(v) => v.to_vec(),
        None => store.flat().to_vec()?,
    };
    let tensors = store
        .entries()
        .iter()
        .map(|e| {
            (e.name.clone(), e.shape.clone(), flat[e.offset..e.offset + e.shape.iter().product::<usize>()].to_vec())
        })
        .collect::<Vec<_>>();
    save_tensors(path, meta, &tensors)
}

/// Saves named f32 tensors `(name, shape, values)` and `meta`, atomically.
///
/// # Errors
/// [`Error::Io`]; [`Error::Checkpoint`] if a shape does not match its values.
pub fn save_tensors(path: &Path, meta: &Meta, tensors: &[(String, Vec<usize>, Vec<f32>)]) -> Result<()> {
    let bad =
        |e: safetensors::SafeTensorError| Error::Checkpoint { path: path.display().to_string(), msg: e.to_string() };
    let views = tensors
        .iter()
        .map(|(n, s, v)| {
            safetensors::tensor::TensorView::new(Dtype::F32, s.clone(), bytemuck::cast_slice(v)).map(|t| (n.clone(), t))
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(bad)?;
    let json = serde_json::to_string(meta).expect("metadata serialises");
    let data = safetensors::serialize(views, Some(HashMap::from([(KEY.to_string(), json)]))).map_err(bad)?;
    write_atomic(path, &data)
}

/// Loads a checkpoint and checks that it is a vdd file of the current version whose kind is
/// one of `kinds` (any kind when empty).
///
/// # Errors
/// [`Error::Io`] if the file cannot be read; [`Error::Checkpoint`] if it is truncated or
/// corrupt, not a vdd checkpoint, of another version or kind, or holds non-f32 tensors.
pub fn load(path: &Path, kinds: &[&str]) -> Result<Checkpoint> {
    let p = path.display().to_string();
    let bad = |msg: String| Error::Checkpoint { path: p.clone(), msg };
    let data = std::fs::read(path).map_err(|source| Error::Io { path: p.clone(), source })?;
    let st = SafeTensors::deserialize(&data)
        .map_err(|e| bad(format!("not a readable safetensors file ({e}); is it truncated or corrupt?")))?;
    let (_, header) = SafeTensors::read_metadata(&data).map_err(|e| bad(e.to_string()))?;
    let json = header
        .metadata()
        .as_ref()
        .and_then(|m| m.get(KEY))
        .ok_or_else(|| bad("no vdd metadata: this safetensors file was not written by vdd".into()))?;
    let meta: Meta = serde_json::from_str(json).map_err(|e| bad(format!("malformed vdd metadata: {e}")))?;
    if meta.format != KEY {
        return Err(bad(format!("format {:?} is not \"vdd\"", meta.format)));
    }
    if meta.version != FORMAT_VERSION {
        return Err(bad(format!("format version {} but this build reads version {FORMAT_VERSION}", meta.version)));
    }
    if !kinds.is_empty() && !kinds.contains(&meta.kind.as_str()) {
        return Err(bad(format!("holds a {:?}, but a {} is needed here", meta.kind, kinds.join(" or "))));
    }
    let mut tensors = HashMap::new();
    for (name, view) in st.tensors() {
        if view.dtype() != Dtype::F32 {
            return Err(bad(format!("tensor {name} is {:?}, expected F32", view.dtype())));
        }
        let vals: Vec<f32> =
            view.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        tensors.insert(name, (view.shape().to_vec(), vals));
    }
    Ok(Checkpoint { meta, tensors })
}

impl Checkpoint {
    /// Copies the tensors into `store` by name, checking that every parameter is present with
    /// the right shape (and that the file holds nothing else).
    ///
    /// # Errors
    /// [`Error::Checkpoint`] naming the first missing, extra or mis-shaped tensor; device errors.
    pub fn load_into(&self, path: &Path, store: &ParamStore) -> Result<()> {
        let bad = |msg: String| Error::Checkpoint { path: path.display().to_string(), msg };
        let mut flat = vec![0f32; store.numel()];
        for e in store.entries() {
            let (shape, vals) =
                self.tensors.get(&e.name).ok_or_else(|| bad(format!("missing tensor {} {:?}", e.name, e.shape)))?;
            if *shape != e.shape {
                return Err(bad(format!("tensor {} has shape {shape:?}, the model needs {:?}", e.name, e.shape)));
            }
            flat[e.offset..e.offset + e.shape.iter().product::<usize>()].copy_from_slice(vals);
        }
        if let Some(extra) = self.tensors.keys().find(|n| store.find(n).is_none()) {
            return Err(bad(format!("unexpected tensor {extra}: the file does not match this model configuration")));
        }
        store.load(&flat)
    }
}
