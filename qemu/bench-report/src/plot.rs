//! The per-call cost plot: one group of bars per operation, one bar per configuration (median
//! cost per call in the run's unit, logarithmic axis — monitored and unmonitored calls differ by orders of
//! magnitude), a whisker for the min–max spread over repetitions.

use std::path::Path;

use plotters::prelude::*;

use crate::Results;

const COLOURS: [RGBColor; 6] = [
    RGBColor(0x4c, 0x72, 0xb0),
    RGBColor(0x55, 0xa8, 0x68),
    RGBColor(0xc4, 0x4e, 0x52),
    RGBColor(0x81, 0x72, 0xb2),
    RGBColor(0xcc, 0xb9, 0x74),
    RGBColor(0x64, 0xb5, 0xcd),
];

/// Draws `r` into an SVG file at `path`.
pub fn draw(r: &Results, path: &Path) -> Result<(), String> {
    let err = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    let width = (200 + 160 * u32::try_from(r.ops.len()).unwrap_or(8).min(12)).max(680);
    let root = SVGBackend::new(path, (width, 480)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;

    let values: Vec<u64> = r.cells.values().flat_map(|c| c.samples.iter().copied()).collect();
    let lo = values.iter().copied().min().unwrap_or(1).max(1) as f64 / 2.0;
    let hi = values.iter().copied().max().unwrap_or(1).max(2) as f64 * 2.0;
    let n_ops = r.ops.len().max(1);
    let ops = r.ops.clone();
    let mut chart = ChartBuilder::on(&root)
        .caption("system-call cost in the monitored guest (median per call, log scale)", ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(32)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..n_ops as f64, (lo..hi).log_scale())
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n_ops * 2 + 1)
        .x_label_formatter(&|x| {
            // Labels sit at the middle of each group.
            let k = (*x - 0.5).round();
            if (*x - 0.5 - k).abs() < 1e-6 && k >= 0.0 {
                ops.get(k as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .y_label_formatter(&|y| format!("{y:.0}"))
        .y_desc(format!("{} per call", r.unit))
        .draw()
        .map_err(|e| err(&e))?;

    let n_cfg = r.configs.len().max(1) as f64;
    let bar = 0.8 / n_cfg;
    for (c, config) in r.configs.iter().enumerate() {
        let colour = COLOURS[c % COLOURS.len()];
        let mut bars = Vec::new();
        let mut whiskers = Vec::new();
        for o in 0..r.ops.len() {
            let Some(cell) = r.cells.get(&(c, o)) else { continue };
            let (Some(m), Some((min, max))) = (cell.median(), cell.range()) else { continue };
            let x0 = o as f64 + 0.1 + bar * c as f64;
            bars.push(Rectangle::new([(x0, lo), (x0 + bar * 0.9, m.max(1) as f64)], colour.filled()));
            let xm = x0 + bar * 0.45;
            whiskers
                .push(PathElement::new(vec![(xm, min.max(1) as f64), (xm, max.max(1) as f64)], BLACK.stroke_width(1)));
        }
        chart
            .draw_series(bars)
            .map_err(|e| err(&e))?
            .label(config.as_str())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], colour.filled()));
        chart.draw_series(whiskers).map_err(|e| err(&e))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))?;
    Ok(())
}
