//! Line charts as PNG and SVG with plotters, in a bundled font so they render on a bare machine.

use std::path::Path;
use std::sync::Once;

use anyhow::{Context, anyhow};
use plotters::coord::Shift;
use plotters::prelude::*;

/// DejaVu Sans, bundled (see assets/fonts/LICENSE-DejaVu.txt).
const FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

/// Colour-blind-safe palette (Okabe-Ito).
pub const PALETTE: [RGBColor; 7] = [
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(213, 94, 0),
    RGBColor(0, 0, 0),
];

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        plotters::style::register_font("sans-serif", FontStyle::Normal, FONT)
            .map_err(|_| ())
            .expect("the bundled font is valid");
    });
}

/// One line of a chart.
pub struct Series {
    /// Legend label.
    pub label: String,
    /// Points in data coordinates.
    pub points: Vec<(f64, f64)>,
}

/// A line chart: title, axis labels, series, and optional vertical markers.
pub struct LineChart {
    /// Title above the plot.
    pub title: String,
    /// X axis label (with unit).
    pub x_label: String,
    /// Y axis label (with unit).
    pub y_label: String,
    /// Logarithmic x axis.
    pub log_x: bool,
    /// The lines.
    pub series: Vec<Series>,
    /// Vertical lines at these x values, with labels.
    pub markers: Vec<(f64, String)>,
}

impl LineChart {
    /// Writes `stem.png` (1000x600) and `stem.svg`.
    pub fn write(&self, stem: &Path) -> anyhow::Result<()> {
        register_font();
        let png = stem.with_extension("png");
        let svg = stem.with_extension("svg");
        let tmp_png = stem.with_extension("tmp.png");
        {
            let root = BitMapBackend::new(&tmp_png, (1000, 600)).into_drawing_area();
            self.draw(&root)?;
            root.present().map_err(|e| anyhow!("{e}"))?;
        }
        std::fs::rename(&tmp_png, &png)
            .with_context(|| format!("cannot write {}", png.display()))?;
        let tmp_svg = stem.with_extension("tmp.svg");
        {
            let root = SVGBackend::new(&tmp_svg, (1000, 600)).into_drawing_area();
            self.draw(&root)?;
            root.present().map_err(|e| anyhow!("{e}"))?;
        }
        std::fs::rename(&tmp_svg, &svg).with_context(|| format!("cannot write {}", svg.display()))
    }

    fn draw<B: DrawingBackend>(&self, root: &DrawingArea<B, Shift>) -> anyhow::Result<()>
    where
        B::ErrorType: 'static,
    {
        let err = |e: DrawingAreaErrorKind<B::ErrorType>| anyhow!("{e}");
        root.fill(&WHITE).map_err(err)?;
        let all: Vec<(f64, f64)> = self.series.iter().flat_map(|s| s.points.clone()).collect();
        if all.is_empty() {
            return Err(anyhow!("nothing to plot"));
        }
        let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
        for &(x, y) in &all {
            (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
        }
        let pad = ((y1 - y0) * 0.05).max(1e-9);
        let mut builder = ChartBuilder::on(root);
        builder
            .caption(&self.title, ("sans-serif", 24))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(72);
        let style = ("sans-serif", 16);
        if self.log_x {
            let mut chart = builder
                .build_cartesian_2d((x0..x1.max(x0 * 1.0001)).log_scale(), y0 - pad..y1 + pad)
                .map_err(err)?;
            chart
                .configure_mesh()
                .x_desc(&self.x_label)
                .y_desc(&self.y_label)
                .label_style(style)
                .x_label_formatter(&|v| format!("{v:.0e}"))
                .draw()
                .map_err(err)?;
            self.lines(&mut chart, (y0 - pad, y1 + pad)).map_err(err)?;
        } else {
            let mut chart = builder
                .build_cartesian_2d(x0..x1.max(x0 + 1e-9), y0 - pad..y1 + pad)
                .map_err(err)?;
            chart
                .configure_mesh()
                .x_desc(&self.x_label)
                .y_desc(&self.y_label)
                .label_style(style)
                .draw()
                .map_err(err)?;
            self.lines(&mut chart, (y0 - pad, y1 + pad)).map_err(err)?;
        }
        Ok(())
    }

    fn lines<'a, DB: DrawingBackend + 'a, X: Ranged<ValueType = f64>>(
        &self,
        chart: &mut ChartContext<'a, DB, Cartesian2d<X, plotters::coord::types::RangedCoordf64>>,
        (ylo, yhi): (f64, f64),
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        for (i, s) in self.series.iter().enumerate() {
            let colour = PALETTE[i % PALETTE.len()];
            chart
                .draw_series(LineSeries::new(s.points.clone(), colour.stroke_width(2)))?
                .label(s.label.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2))
                });
        }
        for (j, (x, label)) in self.markers.iter().enumerate() {
            let colour = PALETTE[(self.series.len() + j) % PALETTE.len()];
            chart
                .draw_series(LineSeries::new(
                    vec![(*x, ylo), (*x, yhi)],
                    colour.stroke_width(1),
                ))?
                .label(label.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(1))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 15))
            .draw()
    }
}
