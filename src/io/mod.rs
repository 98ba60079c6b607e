//! Files: checkpoints (safetensors + JSON metadata) and sample CSVs.

mod checkpoint;
mod normalization;

pub use checkpoint::{git_revision, load, save, save_tensors, Checkpoint, Meta, FORMAT_VERSION};
pub use normalization::Normalization;

use crate::error::{Error, Result};
use std::path::Path;

/// Writes `bytes` to `path` atomically: a temporary file in the same directory, flushed, then
/// renamed over the target, so a crash never leaves a half-written file behind.
///
/// # Errors
/// [`Error::Io`] naming the path.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let io = |source| Error::Io { path: path.display().to_string(), source };
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io)?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    let mut f = std::fs::File::create(&tmp).map_err(io)?;
    f.write_all(bytes).and_then(|()| f.sync_all()).map_err(io)?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(io)
}

/// Writes samples `[n, d]` as CSV with a header `a0,a1,…` (prefixed by `s0,…` state columns
/// when `states` is given, one state row per sample).
///
/// # Errors
/// [`Error::Io`].
pub fn write_csv(path: &Path, samples: &[f64], d: usize, states: Option<(&[f64], usize)>) -> Result<()> {
    use std::fmt::Write;
    let mut s = String::new();
    let mut head: Vec<String> = Vec::new();
    if let Some((_, sd)) = states {
        head.extend((0..sd).map(|i| format!("s{i}")));
    }
    head.extend((0..d).map(|i| format!("a{i}")));
    let _ = writeln!(s, "{}", head.join(","));
    for (i, a) in samples.chunks(d).enumerate() {
        let mut row: Vec<String> = Vec::new();
        if let Some((st, sd)) = states {
            row.extend(st[i * sd..][..sd].iter().map(|v| format!("{v}")));
        }
        row.extend(a.iter().map(|v| format!("{v}")));
        let _ = writeln!(s, "{}", row.join(","));
    }
    write_atomic(path, s.as_bytes())
}
