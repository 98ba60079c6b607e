//! PNG figures with plotters: a 2-D target density with a mixture's experts drawn as mean
//! markers and 1σ/2σ ellipses (the picture of the paper's Figure 2), sample scatters, and
//! trajectories over obstacles.
//!
//! Text needs a TrueType font: `VDD_FONT` (a `.ttf` path) or one of the common system fonts
//! (DejaVu, Liberation, FreeFont). Without one the figure is drawn without labels and a
//! warning says so.

use crate::error::{Error, Result};
use crate::moe::Mixtures;
use crate::tasks::Gmm;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use std::path::Path;
use std::sync::OnceLock;

const FONT_PATHS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/freefont/FreeSans.ttf",
    "/System/Library/Fonts/Supplemental/Arial.ttf",
    "C:\\Windows\\Fonts\\arial.ttf",
];

/// Registers a font once; whether text can be drawn.
fn font() -> bool {
    static OK: OnceLock<bool> = OnceLock::new();
    *OK.get_or_init(|| {
        let env = std::env::var("VDD_FONT").ok();
        for p in env.iter().map(String::as_str).chain(FONT_PATHS.iter().copied()) {
            if let Ok(bytes) = std::fs::read(p) {
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                if plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok() {
                    return true;
                }
            }
        }
        eprintln!("warning: no TrueType font found (set VDD_FONT to a .ttf file); figures are drawn without labels");
        false
    })
}

fn err(e: impl std::fmt::Display) -> Error {
    Error::invalid("plot", e.to_string())
}

/// Distinct colours for experts / paths.
pub fn palette(i: usize) -> RGBColor {
    const P: [(u8, u8, u8); 12] = [
        (31, 119, 180),
        (255, 127, 14),
        (44, 160, 44),
        (214, 39, 40),
        (148, 103, 189),
        (140, 86, 75),
        (227, 119, 194),
        (127, 127, 127),
        (188, 189, 34),
        (23, 190, 207),
        (0, 0, 128),
        (128, 0, 0),
    ];
    let (r, g, b) = P[i % P.len()];
    RGBColor(r, g, b)
}

type Chart<'a> = ChartContext<'a, BitMapBackend<'a>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// Draws a 900×900 figure with axes `x`, `y` and `title`, then calls `draw` on the chart.
///
/// # Errors
/// [`Error::InvalidArgument`] when drawing or writing the PNG fails.
pub fn figure(
    path: &Path,
    title: &str,
    x: (f64, f64),
    y: (f64, f64),
    draw: impl FnOnce(&mut Chart) -> std::result::Result<(), String>,
) -> Result<()> {
    if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::Io { path: dir.display().to_string(), source: e })?;
    }
    let text = font();
    let root = BitMapBackend::new(path, (900, 900)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut b = ChartBuilder::on(&root);
    b.margin(20);
    if text {
        b.caption(title, ("sans-serif", 22)).x_label_area_size(40).y_label_area_size(50);
    }
    let mut chart = b.build_cartesian_2d(x.0..x.1, y.0..y.1).map_err(err)?;
    if text {
        chart.configure_mesh().disable_mesh().draw().map_err(err)?;
    }
    draw(&mut chart).map_err(err)?;
    root.present().map_err(err)
}

/// A density as a heat map of `cells²` squares (white → dark blue, by `p / max p`).
///
/// # Errors
/// Drawing errors (as text).
pub fn density(chart: &mut Chart, log_p: &dyn Fn(&[f64]) -> Vec<f64>, cells: usize) -> std::result::Result<(), String> {
    let (xr, yr) = (chart.x_range(), chart.y_range());
    let (dx, dy) = ((xr.end - xr.start) / cells as f64, (yr.end - yr.start) / cells as f64);
    let pts: Vec<f64> = (0..cells * cells)
        .flat_map(|i| [xr.start + (i % cells) as f64 * dx + dx / 2.0, yr.start + (i / cells) as f64 * dy + dy / 2.0])
        .collect();
    let lp = log_p(&pts);
    let max = lp.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    chart
        .draw_series((0..cells * cells).map(|i| {
            let v = (lp[i] - max).exp().clamp(0.0, 1.0);
            let c = RGBColor((255.0 - 225.0 * v) as u8, (255.0 - 190.0 * v) as u8, (255.0 - 90.0 * v) as u8);
            let (x0, y0) = (pts[2 * i] - dx / 2.0, pts[2 * i + 1] - dy / 2.0);
            Rectangle::new([(x0, y0), (x0 + dx, y0 + dy)], c.filled())
        }))
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// Each expert of mixture `i` of `m` as a mean marker and 1σ/2σ ellipses, line width growing
/// with its gating weight.
///
/// # Errors
/// Drawing errors (as text).
pub fn experts(chart: &mut Chart, m: &Mixtures, i: usize) -> std::result::Result<(), String> {
    let (z, d) = (m.experts, m.dim);
    let wmax = m.weights[i * z..][..z].iter().copied().fold(0.0, f64::max).max(1e-12);
    for k in 0..z {
        let mu = &m.means[(i * z + k) * d..][..2];
        let l = &m.chols[(i * z + k) * d * d..][..d * d];
        let w = m.weights[i * z + k];
        let width = 1 + (4.0 * w / wmax).round() as u32;
        let c = palette(k);
        for scale in [1.0, 2.0] {
            let ring: Vec<(f64, f64)> = (0..=96)
                .map(|s| {
                    let t = s as f64 / 96.0 * std::f64::consts::TAU;
                    let (e0, e1) = (scale * t.cos(), scale * t.sin());
                    (mu[0] + l[0] * e0, mu[1] + l[d] * e0 + l[d + 1] * e1)
                })
                .collect();
            chart.draw_series(LineSeries::new(ring, c.stroke_width(width))).map_err(|e| e.to_string())?;
        }
        chart.draw_series([Cross::new((mu[0], mu[1]), 7, c.stroke_width(3))]).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// A scatter of 2-D points `[n, 2]` (first two coordinates of `[n, d]`).
///
/// # Errors
/// Drawing errors (as text).
pub fn scatter(chart: &mut Chart, pts: &[f64], d: usize, color: RGBColor) -> std::result::Result<(), String> {
    chart
        .draw_series(pts.chunks(d).map(|p| Circle::new((p[0], p[1]), 2, color.mix(0.5).filled())))
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// The square frame around a mixture's means with 3 std margins.
pub fn frame(g: &Gmm) -> ((f64, f64), (f64, f64)) {
    let d = g.dim();
    let (mut lo, mut hi) = ([f64::INFINITY; 2], [f64::NEG_INFINITY; 2]);
    for k in 0..g.components() {
        for a in 0..2 {
            let s = 3.0 * g.cov(k)[a * d + a].sqrt();
            lo[a] = lo[a].min(g.mean(k)[a] - s);
            hi[a] = hi[a].max(g.mean(k)[a] + s);
        }
    }
    let half = 0.5 * (hi[0] - lo[0]).max(hi[1] - lo[1]);
    let c = [0.5 * (lo[0] + hi[0]), 0.5 * (lo[1] + hi[1])];
    ((c[0] - half, c[0] + half), (c[1] - half, c[1] + half))
}
