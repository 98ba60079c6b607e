//! Per-adapter kernel choices: what `tools/ksweep` measured best, remembered on disk and used
//! by the launchers.
//!
//! The cache is one JSON file (`$VDD_CACHE_DIR/tuning.json`, else
//! `$XDG_CACHE_HOME/vdd/tuning.json`, else `~/.cache/vdd/tuning.json`) mapping an adapter key
//! (backend, name, driver) to its [`Tuning`]. Without an entry the engine uses built-in
//! defaults measured on the adapters we know (see [`Tuning::default_for`]). Kernel choice
//! changes summation order, so bit-for-bit reproducibility holds per adapter *and* tuning.

use super::matmul::GemmConfig;
use crate::device::Gpu;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The kernel choices for one adapter.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tuning {
    /// Preferred GEMM kernel (shrunk for small shapes by the planner).
    pub gemm: GemmConfig,
    /// Where the choice came from (`default`, or the ksweep run that measured it).
    #[serde(default)]
    pub source: String,
}

impl Tuning {
    /// Built-in choice: the subgroup kernel on CPU adapters with 8-wide subgroups (lavapipe),
    /// the shared-memory kernel elsewhere.
    pub fn default_for(gpu: &Gpu) -> Tuning {
        let info = gpu.info();
        let sg8 = GemmConfig::Sg8 { tm: 64, tn4: 2, wg: 64, tc: false };
        let gemm = if info.device_type == wgpu::DeviceType::Cpu
            && info.subgroup_min_size == 8
            && gpu.features().contains(wgpu::Features::SUBGROUP)
        {
            sg8
        } else {
            GemmConfig::Shared { tm: 4, tn: 4, wgx: 16, wgy: 16, bk: 16 }
        };
        Tuning { gemm, source: "default".into() }
    }
}

/// The cache file location.
pub fn cache_path() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("VDD_CACHE_DIR") {
        return Some(PathBuf::from(d).join("tuning.json"));
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("vdd").join("tuning.json"))
}

fn read_all() -> BTreeMap<String, Tuning> {
    cache_path()
        .and_then(|p| std::fs::read_to_string(p).ok())
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or_default()
}

/// The tuning in effect for `gpu`: its cache entry if one exists, else the default
/// (read once per device).
pub fn get(gpu: &Gpu) -> &Tuning {
    gpu.tuning.get_or_init(|| read_all().remove(&gpu.report().cache_key()).unwrap_or_else(|| Tuning::default_for(gpu)))
}

/// Stores `t` as the tuning of `gpu`'s adapter (atomically: temp file + rename). Takes effect
/// for devices opened afterwards.
///
/// # Errors
/// [`Error::Io`] when the cache cannot be written.
pub fn store(gpu: &Gpu, t: &Tuning) -> Result<PathBuf> {
    let path = cache_path().ok_or_else(|| Error::invalid("tuning", "no cache directory: set VDD_CACHE_DIR or HOME"))?;
    let mut all = read_all();
    all.insert(gpu.report().cache_key(), t.clone());
    let io = |e| Error::Io { path: path.display().to_string(), source: e };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let tmp = path.with_extension("json.tmp");
    let text = serde_json::to_string_pretty(&all).map_err(|e| Error::invalid("tuning", e.to_string()))?;
    std::fs::write(&tmp, text).map_err(io)?;
    std::fs::rename(&tmp, &path).map_err(io)?;
    Ok(path)
}
