//! Every shader parses and validates with naga (no GPU needed): each kernel in every define
//! combination its launchers use, and every .wgsl file under shaders/ belongs to a kernel.

use std::collections::BTreeSet;
use std::path::Path;
use vdd::kernels::{all_kernels, compose, PRELUDE};

fn validate(label: &str, src: &str) -> Result<(), String> {
    let module =
        naga::front::wgsl::parse_str(src).map_err(|e| format!("{label}: parse error\n{}", e.emit_to_string(src)))?;
    naga::valid::Validator::new(naga::valid::ValidationFlags::all(), naga::valid::Capabilities::all())
        .validate(&module)
        .map_err(|e| format!("{label}: validation error\n{}", e.emit_to_string(src)))?;
    Ok(())
}

#[test]
fn every_kernel_variant_parses_and_validates() {
    let mut failures = Vec::new();
    let mut count = 0;
    for k in all_kernels() {
        assert!(!k.variants.is_empty(), "{} lists no variants", k.source.path);
        for defines in k.variants {
            count += 1;
            if let Err(e) = validate(&format!("{}:{} {defines:?}", k.source.path, k.entry), &compose(&k, defines)) {
                failures.push(e);
            }
        }
    }
    assert!(failures.is_empty(), "{} of {count} shader variants failed:\n{}", failures.len(), failures.join("\n\n"));
    assert!(count > 50, "only {count} variants validated");
}

fn wgsl_files(dir: &Path, out: &mut BTreeSet<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            wgsl_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "wgsl") {
            let rel = p.strip_prefix(concat!(env!("CARGO_MANIFEST_DIR"), "/shaders/")).unwrap();
            out.insert(rel.to_string_lossy().replace('\\', "/"));
        }
    }
}

#[test]
fn every_shader_file_is_used_and_documented() {
    let mut files = BTreeSet::new();
    wgsl_files(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/shaders")), &mut files);
    let mut used = BTreeSet::from([PRELUDE.path.to_string()]);
    for k in all_kernels() {
        used.insert(k.source.path.to_string());
        used.extend(k.includes.iter().map(|s| s.path.to_string()));
        // Kernel files name their CPU twin and dispatch formula in the header comment.
        let header: String = k.source.text.lines().take_while(|l| l.starts_with("//")).collect::<Vec<_>>().join("\n");
        assert!(header.contains("CPU twin"), "{} header does not name its CPU twin", k.source.path);
        assert!(header.contains("Dispatch"), "{} header does not give its dispatch formula", k.source.path);
    }
    let unused: Vec<_> = files.difference(&used).collect();
    assert!(unused.is_empty(), "shader files no kernel uses: {unused:?}");
    for f in &files {
        let text = std::fs::read_to_string(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/shaders")).join(f)).unwrap();
        assert!(text.starts_with(&format!("// {f}")), "{f} must open with a header comment naming the file");
    }
}

/// Pipelines are cached under `source:entry|defines|overrides`, so two kernels that differ only
/// in their includes would share one compiled pipeline: every (source, entry, defines) of the
/// listed variants is unique.
#[test]
fn kernels_differ_in_source_entry_or_defines() {
    let mut seen = BTreeSet::new();
    for k in all_kernels() {
        for v in k.variants {
            let key = format!("{}:{}|{v:?}", k.source.path, k.entry);
            assert!(seen.insert(key.clone()), "{key} names two kernels");
        }
    }
}
