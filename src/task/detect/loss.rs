//! CenterNet's training targets and loss: a Gaussian peak per object on its class's heat map
//! under a focal loss, and L1 on the box values at each object's centre cell.

use burn::tensor::activation::{log_sigmoid, sigmoid};
use burn::tensor::{Device, Tensor, TensorData};

use super::Scene;

/// Targets of one batch, as dense maps the size of the head's output.
pub struct Targets {
    /// `[n, classes, h, w]`: 1 at centres, a Gaussian around them, 0 elsewhere.
    pub heat: Vec<f32>,
    /// `[n, classes, h, w]`: weight of each cell as a negative (0 inside crowd regions).
    pub negative: Vec<f32>,
    /// `[n, 4, h, w]`: box values at centre cells.
    pub boxes: Vec<f32>,
    /// `[n, 1, h, w]`: 1 at centre cells.
    pub centres: Vec<f32>,
    /// Objects that are centres (the loss's normaliser).
    pub count: usize,
    shape: [usize; 4],
}

/// CenterNet's radius (Law & Deng's CornerNet formula): the largest corner shift that keeps a
/// box of `h`×`w` cells above IoU `overlap` with the truth.
pub fn gaussian_radius(h: f64, w: f64, overlap: f64) -> f64 {
    let (a1, b1, c1) = (1.0, h + w, w * h * (1.0 - overlap) / (1.0 + overlap));
    let r1 = (b1 + (b1 * b1 - 4.0 * a1 * c1).sqrt()) / 2.0;
    let (a2, b2, c2) = (4.0, 2.0 * (h + w), (1.0 - overlap) * w * h);
    let r2 = (b2 + (b2 * b2 - 4.0 * a2 * c2).sqrt()) / 2.0;
    let (a3, b3, c3) = (
        4.0 * overlap,
        -2.0 * overlap * (h + w),
        (overlap - 1.0) * w * h,
    );
    let r3 = (b3 + (b3 * b3 - 4.0 * a3 * c3).sqrt()) / 2.0;
    r1.min(r2).min(r3)
}

impl Targets {
    /// The targets of `scenes` (already at the input size) for an output of `h`×`w` cells of
    /// `stride` pixels and `classes` classes.
    pub fn new(scenes: &[&Scene], classes: usize, h: usize, w: usize, stride: usize) -> Targets {
        let n = scenes.len();
        let plane = h * w;
        let mut t = Targets {
            heat: vec![0.0; n * classes * plane],
            negative: vec![1.0; n * classes * plane],
            boxes: vec![0.0; n * 4 * plane],
            centres: vec![0.0; n * plane],
            count: 0,
            shape: [n, classes, h, w],
        };
        let s = stride as f64;
        for (i, scene) in scenes.iter().enumerate() {
            for o in &scene.objects {
                let b = o.bbox;
                if o.crowd || o.ignore {
                    // Neither a positive nor a negative: the cells its box covers are not taught.
                    let (x0, y0) = ((b.x as f64 / s).floor(), (b.y as f64 / s).floor());
                    let (x1, y1) = (
                        (b.right() as f64 / s).ceil(),
                        (b.bottom() as f64 / s).ceil(),
                    );
                    let neg = &mut t.negative[(i * classes + o.class) * plane..][..plane];
                    for y in (y0.max(0.0) as usize)..(y1.max(0.0) as usize).min(h) {
                        for x in (x0.max(0.0) as usize)..(x1.max(0.0) as usize).min(w) {
                            neg[y * w + x] = 0.0;
                        }
                    }
                    continue;
                }
                if b.w <= 0.0 || b.h <= 0.0 {
                    continue;
                }
                let cx = (b.x + b.w / 2.0) as f64 / s;
                let cy = (b.y + b.h / 2.0) as f64 / s;
                let (gx, gy) = (
                    cx.floor().clamp(0.0, (w - 1) as f64),
                    cy.floor().clamp(0.0, (h - 1) as f64),
                );
                let (gx, gy) = (gx as usize, gy as usize);
                let bw = b.w as f64 / s;
                let bh = b.h as f64 / s;
                let r = gaussian_radius(bh.ceil(), bw.ceil(), 0.7).floor().max(0.0) as isize;
                let sigma = (2 * r + 1) as f64 / 6.0;
                let heat = &mut t.heat[(i * classes + o.class) * plane..][..plane];
                for dy in -r..=r {
                    for dx in -r..=r {
                        let (y, x) = (gy as isize + dy, gx as isize + dx);
                        if y < 0 || x < 0 || y >= h as isize || x >= w as isize {
                            continue;
                        }
                        let g =
                            (-((dx * dx + dy * dy) as f64) / (2.0 * sigma * sigma)).exp() as f32;
                        let cell = &mut heat[y as usize * w + x as usize];
                        *cell = cell.max(g);
                    }
                }
                heat[gy * w + gx] = 1.0;
                let at = gy * w + gx;
                if t.centres[i * plane + at] == 0.0 {
                    t.count += 1;
                }
                t.centres[i * plane + at] = 1.0;
                let values = [cx - gx as f64, cy - gy as f64, bw.ln(), bh.ln()];
                for (c, v) in values.into_iter().enumerate() {
                    t.boxes[(i * 4 + c) * plane + at] = v as f32;
                }
            }
        }
        t
    }

    /// The loss of outputs `heat` and `boxes` against these targets: focal loss (α = 2, β = 4)
    /// plus L1 on the box values, both per object.
    pub fn loss(&self, heat: Tensor<4>, boxes: Tensor<4>, device: &Device) -> Tensor<1> {
        let [n, k, h, w] = self.shape;
        let map = |v: &[f32], c: usize| {
            Tensor::<4>::from_data(TensorData::new(v.to_vec(), [n, c, h, w]), device)
        };
        let target = map(&self.heat, k);
        let positive = target.clone().equal_elem(1.0).float();
        let negative = map(&self.negative, k) * (positive.clone().neg() + 1.0);
        let p = sigmoid(heat.clone());
        let q = p.clone().neg() + 1.0;
        let away = (target.neg() + 1.0).powi_scalar(4);
        let pos = log_sigmoid(heat.clone()) * q.powi_scalar(2) * positive;
        let neg = log_sigmoid(heat.neg()) * p.powi_scalar(2) * away * negative;
        let norm = self.count.max(1) as f64;
        let focal = (pos.sum() + neg.sum()).neg() / norm;
        let centres = map(&self.centres, 1);
        let l1 = ((boxes - map(&self.boxes, 4)).abs() * centres).sum() / norm;
        focal + l1
    }
}
