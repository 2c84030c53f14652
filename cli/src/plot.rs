//! The bench plot: latency against sequence length, one line per (K/V codecs, batch) and the
//! SDPA FP16 baseline of the same run dashed, as SVG (text is left to the viewer's fonts, so no
//! font files are needed).

use crate::bench::BenchRow;
use crate::error::{CliError, Result};
use plotters::prelude::*;
use std::collections::BTreeMap;
use std::path::Path;

/// Lines of (seq, ms), keyed by their legend.
fn series(rows: &[BenchRow]) -> BTreeMap<String, Vec<(f64, f64)>> {
    let mut lines: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for r in rows {
        let ragged = if r.ragged { " ragged" } else { "" };
        let key = format!(
            "{}/{} batch {}{ragged}",
            r.key_codec, r.value_codec, r.batch
        );
        lines.entry(key).or_default().push((r.seq as f64, r.ms));
        if let Some(sdpa) = r.sdpa_ms {
            let key = format!("SDPA fp16 batch {}", r.batch);
            let line = lines.entry(key).or_default();
            if !line.iter().any(|(s, _)| *s == r.seq as f64) {
                line.push((r.seq as f64, sdpa));
            }
        }
    }
    for line in lines.values_mut() {
        line.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    lines
}

pub fn latency_svg(rows: &[BenchRow], title: &str, path: &Path) -> Result<()> {
    let draw_err = |e: String| CliError::Invalid(format!("drawing {}: {e}", path.display()));
    let lines = series(rows);
    if lines.is_empty() {
        return Err(CliError::Invalid("no bench rows to plot".into()));
    }
    let points = lines.values().flatten();
    let (mut x_max, mut y_max, mut x_min, mut y_min) = (1f64, 1e-3f64, f64::MAX, f64::MAX);
    for &(x, y) in points {
        x_max = x_max.max(x);
        y_max = y_max.max(y);
        x_min = x_min.min(x);
        y_min = y_min.min(y);
    }
    let root = SVGBackend::new(path, (960, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| draw_err(e.to_string()))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(
            ((x_min / 1.5)..(x_max * 1.5)).log_scale(),
            ((y_min / 1.5)..(y_max * 1.5)).log_scale(),
        )
        .map_err(|e| draw_err(e.to_string()))?;
    chart
        .configure_mesh()
        .x_desc("sequence length (tokens)")
        .y_desc("decode attention step (ms)")
        .x_label_formatter(&|x| format!("{}k", (*x / 1024.0).round()))
        .draw()
        .map_err(|e| draw_err(e.to_string()))?;
    for (i, (name, line)) in lines.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let sdpa = name.starts_with("SDPA");
        let style = ShapeStyle {
            color,
            filled: true,
            stroke_width: if sdpa { 1 } else { 2 },
        };
        chart
            .draw_series(LineSeries::new(line.iter().copied(), style))
            .map_err(|e| draw_err(e.to_string()))?
            .label(name.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
        chart
            .draw_series(PointSeries::of_element(
                line.iter().copied(),
                3,
                style,
                &|c, s, st| Circle::new(c, s, st),
            ))
            .map_err(|e| draw_err(e.to_string()))?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .map_err(|e| draw_err(e.to_string()))?;
    root.present().map_err(|e| draw_err(e.to_string()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(batch: usize, seq: usize, ms: f64, sdpa: f64) -> BenchRow {
        serde_json::from_value(serde_json::json!({
            "batch": batch, "seq": seq, "key_codec": "d4b8", "value_codec": "d4b8",
            "bits_per_element": 2.0, "config": "c", "variant": "v", "pieces": 1,
            "registers": 100, "spilled_bytes": 0, "ms": ms, "ms_min": ms, "ms_max": ms,
            "bytes": 1, "gb_per_s": 1.0, "roofline_fraction": 0.1, "sdpa_ms": sdpa,
            "speedup_vs_sdpa": sdpa / ms, "append_ms": 0.001, "append_share": 0.01
        }))
        .unwrap()
    }

    #[test]
    fn draws_one_line_per_codec_and_batch_and_the_baseline() {
        let rows = [
            row(1, 4096, 0.02, 0.03),
            row(1, 32768, 0.05, 0.07),
            row(8, 32768, 0.12, 0.39),
        ];
        let lines = series(&rows);
        assert_eq!(lines.len(), 4);
        assert_eq!(
            lines["d4b8/d4b8 batch 1"],
            vec![(4096.0, 0.02), (32768.0, 0.05)]
        );
        assert_eq!(lines["SDPA fp16 batch 8"], vec![(32768.0, 0.39)]);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plot.svg");
        latency_svg(&rows, "test", &path).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(
            svg.starts_with("<svg") && svg.contains("SDPA fp16 batch 8"),
            "{svg}"
        );
    }
}
