//! Charts as PNG and SVG with plotters, in a bundled font so they render on a bare machine.

use std::path::Path;
use std::sync::Once;

use anyhow::{Context, anyhow};
use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

/// DejaVu Sans, bundled (see assets/fonts/LICENSE-DejaVu.txt).
const FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

/// Colour-blind-safe palette (Okabe-Ito), black last.
pub const PALETTE: [RGBColor; 7] = [
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(213, 94, 0),
    RGBColor(0, 0, 0),
];

/// Makes the bundled font the `sans-serif` of every chart (once).
pub fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        plotters::style::register_font("sans-serif", FontStyle::Normal, FONT)
            .map_err(|_| ())
            .expect("the bundled font is valid");
    });
}

/// Something drawn on a plotters drawing area.
pub trait Figure {
    /// Pixel size.
    fn size(&self) -> (u32, u32) {
        (1000, 600)
    }
    /// Draws the whole figure.
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> anyhow::Result<()>
    where
        DB::ErrorType: 'static;
}

/// Writes `stem.png` and `stem.svg`, each whole or not at all.
pub fn save(fig: &impl Figure, stem: &Path) -> anyhow::Result<()> {
    register_font();
    let size = fig.size();
    let (png, svg) = (stem.with_extension("png"), stem.with_extension("svg"));
    let (tmp_png, tmp_svg) = (
        stem.with_extension("tmp.png"),
        stem.with_extension("tmp.svg"),
    );
    {
        let root = BitMapBackend::new(&tmp_png, size).into_drawing_area();
        fig.draw(&root)?;
        root.present().map_err(|e| anyhow!("{e}"))?;
    }
    std::fs::rename(&tmp_png, &png).with_context(|| format!("cannot write {}", png.display()))?;
    {
        let root = SVGBackend::new(&tmp_svg, size).into_drawing_area();
        fig.draw(&root)?;
        root.present().map_err(|e| anyhow!("{e}"))?;
    }
    std::fs::rename(&tmp_svg, &svg).with_context(|| format!("cannot write {}", svg.display()))
}

/// The legend every chart draws: lower right, on a translucent white box.
pub fn legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 15))
        .draw()
}

fn err<E: std::error::Error + Send + Sync + 'static>(e: DrawingAreaErrorKind<E>) -> anyhow::Error {
    anyhow!("{e}")
}

/// One line of a chart, with an optional band (e.g. a 95% interval) around it.
#[derive(Debug, Clone, Default)]
pub struct Series {
    /// Legend label.
    pub label: String,
    /// Points in data coordinates.
    pub points: Vec<(f64, f64)>,
    /// Lower and upper ends of the band at each point (empty: no band).
    pub band: Vec<(f64, f64)>,
    /// Drawn dashed, in black: the reference line.
    pub reference: bool,
}

/// A line chart: title, axis labels, series, optional vertical markers.
#[derive(Debug, Clone, Default)]
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
    /// Ticks of a log x axis at exactly these values (e.g. the label budgets); on a linear axis,
    /// as many ticks as these whole numbers, labelled as integers; empty: automatic.
    pub x_ticks: Vec<f64>,
}

impl LineChart {
    /// Writes `stem.png` (1000x600) and `stem.svg`.
    pub fn write(&self, stem: &Path) -> anyhow::Result<()> {
        save(self, stem)
    }

    fn bounds(&self) -> anyhow::Result<(f64, f64, f64, f64)> {
        let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
        for s in &self.series {
            for &(x, y) in &s.points {
                (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
            }
            for &(lo, hi) in &s.band {
                (y0, y1) = (y0.min(lo), y1.max(hi));
            }
        }
        if x0 > x1 {
            return Err(anyhow!("nothing to plot"));
        }
        // Room around single points and flat lines.
        let (xpad, ypad) = (
            (x1 - x0).max(x0.abs() * 0.2).max(1e-9) * 0.05,
            ((y1 - y0) * 0.08).max(0.01),
        );
        if self.log_x {
            Ok((x0 / 1.3, x1 * 1.3, y0 - ypad, y1 + ypad))
        } else {
            Ok((x0 - xpad, x1 + xpad, y0 - ypad, y1 + ypad))
        }
    }

    fn plot<'a, DB: DrawingBackend + 'a, X: Ranged<ValueType = f64>>(
        &self,
        chart: &mut ChartContext<'a, DB, Cartesian2d<X, RangedCoordf64>>,
        (ylo, yhi): (f64, f64),
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        let mut colour_index = 0;
        for s in &self.series {
            let colour = if s.reference {
                PALETTE[6]
            } else {
                colour_index += 1;
                PALETTE[(colour_index - 1) % 6]
            };
            if !s.band.is_empty() && s.band.len() == s.points.len() {
                let upper = s.points.iter().zip(&s.band).map(|(p, b)| (p.0, b.1));
                let lower = s.points.iter().zip(&s.band).rev().map(|(p, b)| (p.0, b.0));
                let poly: Vec<(f64, f64)> = upper.chain(lower).collect();
                chart.draw_series(std::iter::once(Polygon::new(
                    poly,
                    colour.mix(0.18).filled(),
                )))?;
                if s.points.len() == 1 {
                    let (x, _) = s.points[0];
                    let (lo, hi) = s.band[0];
                    chart.draw_series(std::iter::once(PathElement::new(
                        vec![(x, lo), (x, hi)],
                        colour.stroke_width(2),
                    )))?;
                }
            }
            let style = colour.stroke_width(if s.reference { 2 } else { 3 });
            let series = if s.reference {
                chart.draw_series(DashedLineSeries::new(s.points.clone(), 8, 6, style))?
            } else {
                chart.draw_series(LineSeries::new(s.points.clone(), style))?
            };
            series
                .label(s.label.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], style));
            chart.draw_series(s.points.iter().map(|&p| Circle::new(p, 4, colour.filled())))?;
        }
        for (j, (x, label)) in self.markers.iter().enumerate() {
            let colour = PALETTE[(self.series.len() + j) % 6];
            chart
                .draw_series(LineSeries::new(
                    vec![(*x, ylo), (*x, yhi)],
                    colour.stroke_width(1),
                ))?
                .label(label.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 24, y)], colour.stroke_width(1))
                });
        }
        legend(chart)
    }
}

impl Figure for LineChart {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> anyhow::Result<()>
    where
        DB::ErrorType: 'static,
    {
        root.fill(&WHITE).map_err(err)?;
        let (x0, x1, y0, y1) = self.bounds()?;
        let mut builder = ChartBuilder::on(root);
        builder
            .caption(&self.title, ("sans-serif", 24))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(72);
        let style = ("sans-serif", 16);
        let log_label = |v: &f64| {
            if (1e-2..1e5).contains(&v.abs()) {
                format!("{v}")
            } else {
                format!("{v:.0e}")
            }
        };
        if self.log_x && !self.x_ticks.is_empty() {
            let x = (x0..x1).log_scale().with_key_points(self.x_ticks.clone());
            let mut chart = builder.build_cartesian_2d(x, y0..y1).map_err(err)?;
            chart
                .configure_mesh()
                .x_desc(&self.x_label)
                .y_desc(&self.y_label)
                .label_style(style)
                .x_label_formatter(&log_label)
                .draw()
                .map_err(err)?;
            self.plot(&mut chart, (y0, y1)).map_err(err)?;
        } else if self.log_x {
            let mut chart = builder
                .build_cartesian_2d((x0..x1).log_scale(), y0..y1)
                .map_err(err)?;
            chart
                .configure_mesh()
                .x_desc(&self.x_label)
                .y_desc(&self.y_label)
                .label_style(style)
                .x_label_formatter(&log_label)
                .draw()
                .map_err(err)?;
            self.plot(&mut chart, (y0, y1)).map_err(err)?;
        } else {
            let mut chart = builder.build_cartesian_2d(x0..x1, y0..y1).map_err(err)?;
            let mut mesh = chart.configure_mesh();
            mesh.x_desc(&self.x_label)
                .y_desc(&self.y_label)
                .label_style(style);
            let whole = |v: &f64| format!("{v:.0}");
            if !self.x_ticks.is_empty() {
                mesh.x_labels(self.x_ticks.len()).x_label_formatter(&whole);
            }
            mesh.draw().map_err(err)?;
            self.plot(&mut chart, (y0, y1)).map_err(err)?;
        }
        Ok(())
    }
}

/// A mean with the ends of its interval: (mean, lower, upper).
pub type Interval = (f64, f64, f64);

/// Points with error bars over named categories, one colour per group, e.g. the mean test
/// accuracy per value of one axis and strategy.
#[derive(Debug, Clone, Default)]
pub struct Effects {
    /// Title.
    pub title: String,
    /// X axis label.
    pub x_label: String,
    /// Y axis label.
    pub y_label: String,
    /// Category names, in order.
    pub categories: Vec<String>,
    /// Per group: label and, per category, (mean, lower, upper) or nothing.
    pub groups: Vec<(String, Vec<Option<Interval>>)>,
}

impl Figure for Effects {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> anyhow::Result<()>
    where
        DB::ErrorType: 'static,
    {
        root.fill(&WHITE).map_err(err)?;
        let values = self.groups.iter().flat_map(|g| g.1.iter().flatten());
        let (mut y0, mut y1) = (f64::MAX, f64::MIN);
        for &(_, lo, hi) in values {
            (y0, y1) = (y0.min(lo), y1.max(hi));
        }
        if y0 > y1 {
            return Err(anyhow!("nothing to plot"));
        }
        let pad = ((y1 - y0) * 0.1).max(0.01);
        let n = self.categories.len() as f64;
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, ("sans-serif", 24))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(72)
            .build_cartesian_2d(-0.5..n - 0.5, y0 - pad..y1 + pad)
            .map_err(err)?;
        let cats = self.categories.clone();
        chart
            .configure_mesh()
            .x_desc(&self.x_label)
            .y_desc(&self.y_label)
            .label_style(("sans-serif", 16))
            .x_labels(self.categories.len().max(2))
            .x_label_formatter(&move |v| {
                let i = v.round();
                if (v - i).abs() < 1e-6 && i >= 0.0 {
                    cats.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .disable_x_mesh()
            .draw()
            .map_err(err)?;
        let k = self.groups.len() as f64;
        let mut next = 0;
        for (g, (label, points)) in self.groups.iter().enumerate() {
            // Scratch in black, as in the line charts.
            let colour = if label == "scratch" {
                PALETTE[6]
            } else {
                next += 1;
                PALETTE[(next - 1) % 6]
            };
            let offset = if k > 1.0 {
                (g as f64 - (k - 1.0) / 2.0) * 0.12
            } else {
                0.0
            };
            let at: Vec<(f64, f64, f64, f64)> = points
                .iter()
                .enumerate()
                .filter_map(|(i, p)| p.map(|(m, lo, hi)| (i as f64 + offset, m, lo, hi)))
                .collect();
            chart
                .draw_series(at.iter().map(|&(x, m, lo, hi)| {
                    ErrorBar::new_vertical(x, lo, m, hi, colour.stroke_width(2), 10)
                }))
                .map_err(err)?
                .label(label.clone())
                .legend(move |(x, y)| Circle::new((x + 10, y), 5, colour.filled()));
            chart
                .draw_series(
                    at.iter()
                        .map(|&(x, m, _, _)| Circle::new((x, m), 5, colour.filled())),
                )
                .map_err(err)?;
        }
        legend(&mut chart).map_err(err)?;
        Ok(())
    }
}

/// A grid of coloured cells with their values written in, e.g. the gain over scratch by two
/// axes, or a confusion matrix.
#[derive(Debug, Clone, Default)]
pub struct Heatmap {
    /// Title.
    pub title: String,
    /// X axis label.
    pub x_label: String,
    /// Y axis label.
    pub y_label: String,
    /// Column names.
    pub columns: Vec<String>,
    /// Row names (drawn top to bottom).
    pub rows: Vec<String>,
    /// Per row, per column: the value that sets the colour and the text written in, if any.
    pub cells: Vec<Vec<Option<(f64, String)>>>,
    /// Diverging colours around 0 (blue above, orange below) instead of white to blue.
    pub diverging: bool,
}

impl Heatmap {
    fn colour(&self, v: f64, max: f64) -> RGBColor {
        let t = (v.abs() / max.max(1e-12)).clamp(0.0, 1.0);
        let mix = |a: u8, b: u8| (f64::from(a) + (f64::from(b) - f64::from(a)) * t) as u8;
        let end = if self.diverging && v < 0.0 {
            PALETTE[5]
        } else {
            PALETTE[0]
        };
        RGBColor(mix(255, end.0), mix(255, end.1), mix(255, end.2))
    }
}

impl Figure for Heatmap {
    fn size(&self) -> (u32, u32) {
        let side = (90 * self.columns.len().max(self.rows.len()) as u32 + 220).clamp(500, 1100);
        (side, side)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> anyhow::Result<()>
    where
        DB::ErrorType: 'static,
    {
        root.fill(&WHITE).map_err(err)?;
        let (nc, nr) = (self.columns.len(), self.rows.len());
        if nc == 0 || nr == 0 {
            return Err(anyhow!("nothing to plot"));
        }
        let max = self
            .cells
            .iter()
            .flatten()
            .flatten()
            .map(|c| c.0.abs())
            .fold(0.0, f64::max);
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, ("sans-serif", 22))
            .margin(16)
            .x_label_area_size(56)
            .y_label_area_size(90)
            .build_cartesian_2d(0.0..nc as f64, 0.0..nr as f64)
            .map_err(err)?;
        let (cols, rows) = (self.columns.clone(), self.rows.clone());
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc(&self.x_label)
            .y_desc(&self.y_label)
            .label_style(("sans-serif", 15))
            .x_labels(nc * 2 + 1)
            .y_labels(nr * 2 + 1)
            .x_label_formatter(&move |v| name_at(&cols, *v))
            .y_label_formatter(&move |v| name_at(&rows, nr as f64 - *v))
            .draw()
            .map_err(err)?;
        for (r, row) in self.cells.iter().enumerate() {
            for (c, cell) in row.iter().enumerate() {
                let (x, y) = (c as f64, (nr - 1 - r) as f64);
                let (fill, text) = match cell {
                    Some((v, t)) => (self.colour(*v, max), t.clone()),
                    None => (RGBColor(235, 235, 235), "n/a".into()),
                };
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(x, y), (x + 1.0, y + 1.0)],
                        fill.filled(),
                    )))
                    .map_err(err)?;
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(x, y), (x + 1.0, y + 1.0)],
                        WHITE.stroke_width(2),
                    )))
                    .map_err(err)?;
                let style = TextStyle::from(("sans-serif", 15).into_font()).pos(
                    plotters::style::text_anchor::Pos::new(
                        plotters::style::text_anchor::HPos::Center,
                        plotters::style::text_anchor::VPos::Center,
                    ),
                );
                chart
                    .draw_series(std::iter::once(Text::new(text, (x + 0.5, y + 0.5), style)))
                    .map_err(err)?;
            }
        }
        Ok(())
    }
}

/// The name of the category whose cell centre is at `v` (centres at 0.5, 1.5, ...).
fn name_at(names: &[String], v: f64) -> String {
    let i = v - 0.5;
    if (i - i.round()).abs() < 1e-6 && i >= -1e-6 {
        names.get(i.round() as usize).cloned().unwrap_or_default()
    } else {
        String::new()
    }
}
