//! COCO box evaluation: AP@[.5:.95], AP50, AP75, AP and AR by object size, AR at 1/10/100
//! detections, computed the way pycocotools' `COCOeval` computes them (greedy matching in score
//! order, crowd regions matching any number of detections, 101-point interpolated precision),
//! so the numbers agree with it (`scripts/parity_coco.py` checks).
//!
//! Boxes are `f64` here, as pycocotools reads them from JSON: a box that crossed a file is
//! evaluated exactly as written.

use std::path::Path;

use anyhow::{Context, bail};

use super::Object;

/// One ground-truth box.
#[derive(Debug, Clone, PartialEq)]
pub struct Truth {
    /// Image id.
    pub image: u64,
    /// Class index, 0..K-1.
    pub class: usize,
    /// Left, top, width, height.
    pub bbox: [f64; 4],
    /// Area for the size ranges.
    pub area: f64,
    /// A crowd region (COCO `iscrowd`).
    pub crowd: bool,
    /// Counted neither as found nor as missed (VOC `difficult`).
    pub ignore: bool,
}

impl Truth {
    /// The ground truth of one scene's object.
    pub fn of(image: u64, o: &Object) -> Truth {
        let b = o.bbox;
        Truth {
            image,
            class: o.class,
            bbox: [b.x, b.y, b.w, b.h].map(f64::from),
            area: f64::from(o.area),
            crowd: o.crowd,
            ignore: o.ignore,
        }
    }
}

/// One detection.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Detection {
    /// Image id.
    pub image: u64,
    /// Class index, 0..K-1.
    pub class: usize,
    /// Left, top, width, height.
    pub bbox: [f64; 4],
    /// Confidence.
    pub score: f64,
}

impl Detection {
    /// The detection as a COCO results entry, class k as category id `category_ids[k]` (the
    /// dataset's; [`super::DetDataset::category_ids`]).
    pub fn to_coco(&self, category_ids: &[u64]) -> serde_json::Value {
        serde_json::json!({
            "image_id": self.image,
            "category_id": category_ids.get(self.class).copied().unwrap_or(self.class as u64 + 1),
            "bbox": self.bbox,
            "score": self.score,
        })
    }
}

/// COCO's twelve summary numbers; -1 where undefined (no ground truth of that kind).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Stats {
    /// AP averaged over IoU 0.50:0.05:0.95.
    pub ap: f64,
    /// AP at IoU 0.50.
    pub ap50: f64,
    /// AP at IoU 0.75.
    pub ap75: f64,
    /// AP of objects under 32² pixels.
    pub ap_small: f64,
    /// AP of objects of 32² to 96² pixels.
    pub ap_medium: f64,
    /// AP of objects over 96² pixels.
    pub ap_large: f64,
    /// Recall with 1 detection per image.
    pub ar1: f64,
    /// Recall with 10 detections per image.
    pub ar10: f64,
    /// Recall with 100 detections per image.
    pub ar100: f64,
    /// AR@100 of small objects.
    pub ar_small: f64,
    /// AR@100 of medium objects.
    pub ar_medium: f64,
    /// AR@100 of large objects.
    pub ar_large: f64,
}

impl Stats {
    /// The numbers in pycocotools' `stats` order.
    pub fn to_array(&self) -> [f64; 12] {
        [
            self.ap,
            self.ap50,
            self.ap75,
            self.ap_small,
            self.ap_medium,
            self.ap_large,
            self.ar1,
            self.ar10,
            self.ar100,
            self.ar_small,
            self.ar_medium,
            self.ar_large,
        ]
    }
}

const MAX_DETS: [usize; 3] = [1, 10, 100];
const AREAS: [(f64, f64); 4] = [(0.0, 1e10), (0.0, 1024.0), (1024.0, 9216.0), (9216.0, 1e10)];

/// numpy's `linspace(start, stop, n)`: the thresholds must be the same floats as pycocotools'.
fn linspace(start: f64, stop: f64, n: usize) -> Vec<f64> {
    let step = (stop - start) / (n - 1) as f64;
    let mut v: Vec<f64> = (0..n).map(|i| start + i as f64 * step).collect();
    v[n - 1] = stop;
    v
}

/// pycocotools' box IoU; against a crowd region the union is the detection's area.
fn iou(d: &[f64; 4], g: &[f64; 4], crowd: bool) -> f64 {
    let w = (d[0] + d[2]).min(g[0] + g[2]) - d[0].max(g[0]);
    if w <= 0.0 {
        return 0.0;
    }
    let h = (d[1] + d[3]).min(g[1] + g[3]) - d[1].max(g[1]);
    if h <= 0.0 {
        return 0.0;
    }
    let i = w * h;
    let u = if crowd {
        d[2] * d[3]
    } else {
        d[2] * d[3] + g[2] * g[3] - i
    };
    i / u
}

/// The matching of one image and class at one size range.
struct ImageEval {
    scores: Vec<f64>,
    /// `[threshold][detection]`.
    matched: Vec<Vec<bool>>,
    ignored: Vec<Vec<bool>>,
    /// Ground truth not ignored at this size.
    counted: usize,
}

fn evaluate_image(
    gts: &[&Truth],
    dts: &[&Detection],
    ious: &[Vec<f64>],
    range: (f64, f64),
    thresholds: &[f64],
) -> ImageEval {
    let outside = |a: f64| a < range.0 || a > range.1;
    // Ground truth that is ignored goes last (a stable sort, as numpy's mergesort).
    let mut order: Vec<usize> = (0..gts.len()).collect();
    let gt_ignored: Vec<bool> = gts
        .iter()
        .map(|g| g.ignore || g.crowd || outside(g.area))
        .collect();
    order.sort_by_key(|&i| gt_ignored[i]);
    let t = thresholds.len();
    let mut gt_matched = vec![vec![false; gts.len()]; t];
    let mut matched = vec![vec![false; dts.len()]; t];
    let mut ignored = vec![vec![false; dts.len()]; t];
    for (ti, &thr) in thresholds.iter().enumerate() {
        for d in 0..dts.len() {
            let mut best = thr.min(1.0 - 1e-10);
            let mut m: Option<usize> = None;
            for (gi, &g) in order.iter().enumerate() {
                if gt_matched[ti][gi] && !gts[g].crowd {
                    continue;
                }
                // Matched to counted ground truth already: ignored ones (sorted last) can't win.
                if m.is_some_and(|m| !gt_ignored[order[m]]) && gt_ignored[g] {
                    break;
                }
                if ious[d][g] < best {
                    continue;
                }
                best = ious[d][g];
                m = Some(gi);
            }
            if let Some(m) = m {
                ignored[ti][d] = gt_ignored[order[m]];
                matched[ti][d] = true;
                gt_matched[ti][m] = true;
            }
        }
    }
    for (d, det) in dts.iter().enumerate() {
        if outside(det.bbox[2] * det.bbox[3]) {
            for ti in 0..t {
                ignored[ti][d] |= !matched[ti][d];
            }
        }
    }
    ImageEval {
        scores: dts.iter().map(|d| d.score).collect(),
        matched,
        ignored,
        counted: gt_ignored.iter().filter(|&&i| !i).count(),
    }
}

/// Evaluates detections against ground truth over the images `images` (ids) and `classes`
/// classes. Detections of images not in `images` are an error, as in pycocotools.
pub fn evaluate(
    images: &[u64],
    classes: usize,
    truth: &[Truth],
    detections: &[Detection],
) -> anyhow::Result<Stats> {
    let mut ids = images.to_vec();
    ids.sort_unstable();
    ids.dedup();
    let slot = |image: u64| ids.binary_search(&image).ok();
    let n = ids.len();
    let mut gts: Vec<Vec<&Truth>> = vec![Vec::new(); n * classes];
    for g in truth {
        let Some(i) = slot(g.image) else {
            bail!(
                "ground truth for image {} that is not in the image list",
                g.image
            );
        };
        if g.class < classes {
            gts[g.class * n + i].push(g);
        }
    }
    let mut dts: Vec<Vec<&Detection>> = vec![Vec::new(); n * classes];
    for d in detections {
        let Some(i) = slot(d.image) else {
            bail!(
                "a detection for image {}, which the ground truth does not have",
                d.image
            );
        };
        if d.class < classes {
            dts[d.class * n + i].push(d);
        }
    }
    let thresholds = linspace(0.5, 0.95, 10);
    let recalls = linspace(0.0, 1.0, 101);
    let max_det = MAX_DETS[2];
    // [class][area][image]
    let mut evals: Vec<Vec<Vec<Option<ImageEval>>>> = Vec::with_capacity(classes);
    for k in 0..classes {
        let mut by_area: Vec<Vec<Option<ImageEval>>> =
            (0..AREAS.len()).map(|_| Vec::with_capacity(n)).collect();
        for i in 0..n {
            let g = &gts[k * n + i];
            let mut d = dts[k * n + i].clone();
            // Stable, highest score first, as numpy's mergesort of -score.
            d.sort_by(|a, b| b.score.total_cmp(&a.score));
            d.truncate(max_det);
            let ious: Vec<Vec<f64>> = d
                .iter()
                .map(|d| g.iter().map(|g| iou(&d.bbox, &g.bbox, g.crowd)).collect())
                .collect();
            for (a, &range) in AREAS.iter().enumerate() {
                by_area[a].push(if g.is_empty() && d.is_empty() {
                    None
                } else {
                    Some(evaluate_image(g, &d, &ious, range, &thresholds))
                });
            }
        }
        evals.push(by_area);
    }
    // precision[t][r][k][a][m] and recall[t][k][a][m], -1 where no ground truth counts.
    let (t_n, r_n, a_n, m_n) = (thresholds.len(), recalls.len(), AREAS.len(), MAX_DETS.len());
    let p_at = |t: usize, r: usize, k: usize, a: usize, m: usize| {
        (((t * r_n + r) * classes + k) * a_n + a) * m_n + m
    };
    let r_at = |t: usize, k: usize, a: usize, m: usize| ((t * classes + k) * a_n + a) * m_n + m;
    let mut precision = vec![-1.0f64; t_n * r_n * classes * a_n * m_n];
    let mut recall = vec![-1.0f64; t_n * classes * a_n * m_n];
    for (k, by_area) in evals.iter().enumerate() {
        for (a, images) in by_area.iter().enumerate() {
            let present: Vec<&ImageEval> = images.iter().flatten().collect();
            if present.is_empty() {
                continue;
            }
            let counted: usize = present.iter().map(|e| e.counted).sum();
            if counted == 0 {
                continue;
            }
            for (m, &md) in MAX_DETS.iter().enumerate() {
                // (score, image, detection), then a stable sort by score as numpy's mergesort.
                let mut all: Vec<(f64, usize, usize)> = Vec::new();
                for (e, ev) in present.iter().enumerate() {
                    for d in 0..ev.scores.len().min(md) {
                        all.push((ev.scores[d], e, d));
                    }
                }
                all.sort_by(|x, y| y.0.total_cmp(&x.0));
                for t in 0..t_n {
                    let (mut tp, mut fp) = (0.0f64, 0.0f64);
                    let mut rc = Vec::with_capacity(all.len());
                    let mut pr = Vec::with_capacity(all.len());
                    for &(_, e, d) in &all {
                        let ev = present[e];
                        if !ev.ignored[t][d] {
                            if ev.matched[t][d] {
                                tp += 1.0;
                            } else {
                                fp += 1.0;
                            }
                        }
                        rc.push(tp / counted as f64);
                        pr.push(tp / (fp + tp + f64::EPSILON));
                    }
                    recall[r_at(t, k, a, m)] = rc.last().copied().unwrap_or(0.0);
                    for i in (1..pr.len()).rev() {
                        if pr[i] > pr[i - 1] {
                            pr[i - 1] = pr[i];
                        }
                    }
                    for (ri, &r) in recalls.iter().enumerate() {
                        let pi = rc.partition_point(|&x| x < r);
                        precision[p_at(t, ri, k, a, m)] = pr.get(pi).copied().unwrap_or(0.0);
                    }
                }
            }
        }
    }
    let mean = |values: &mut dyn Iterator<Item = f64>| {
        let (mut sum, mut count) = (0.0, 0usize);
        for v in values.filter(|&v| v > -1.0) {
            sum += v;
            count += 1;
        }
        if count == 0 { -1.0 } else { sum / count as f64 }
    };
    let ts = |iou: Option<usize>| iou.map_or(0..t_n, |t| t..t + 1);
    let ap = |iou: Option<usize>, a: usize, m: usize| {
        mean(&mut ts(iou).flat_map(|t| {
            let precision = &precision;
            (0..r_n).flat_map(move |r| (0..classes).map(move |k| precision[p_at(t, r, k, a, m)]))
        }))
    };
    let ar = |a: usize, m: usize| {
        mean(&mut (0..t_n).flat_map(|t| {
            let recall = &recall;
            (0..classes).map(move |k| recall[r_at(t, k, a, m)])
        }))
    };
    Ok(Stats {
        ap: ap(None, 0, 2),
        ap50: ap(Some(0), 0, 2),
        ap75: ap(Some(5), 0, 2),
        ap_small: ap(None, 1, 2),
        ap_medium: ap(None, 2, 2),
        ap_large: ap(None, 3, 2),
        ar1: ar(0, 0),
        ar10: ar(0, 1),
        ar100: ar(0, 2),
        ar_small: ar(1, 2),
        ar_medium: ar(2, 2),
        ar_large: ar(3, 2),
    })
}

/// A COCO ground-truth file read for evaluation only (no pixels): image ids, class count and
/// boxes, categories numbered 0..K-1 in increasing id order; also the category ids in that order.
pub fn read_truth(path: &Path) -> anyhow::Result<(Vec<u64>, Vec<u64>, Vec<Truth>)> {
    #[derive(serde::Deserialize)]
    struct File {
        images: Vec<Image>,
        #[serde(default)]
        annotations: Vec<Ann>,
        categories: Vec<Cat>,
    }
    #[derive(serde::Deserialize)]
    struct Image {
        id: u64,
    }
    #[derive(serde::Deserialize)]
    struct Cat {
        id: u64,
    }
    #[derive(serde::Deserialize)]
    struct Ann {
        id: u64,
        image_id: u64,
        category_id: u64,
        bbox: [f64; 4],
        area: Option<f64>,
        #[serde(default)]
        iscrowd: u8,
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let file: File = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a COCO annotation file", path.display()))?;
    let mut cats: Vec<u64> = file.categories.iter().map(|c| c.id).collect();
    cats.sort_unstable();
    cats.dedup();
    let images: Vec<u64> = file.images.iter().map(|i| i.id).collect();
    let mut truth = Vec::with_capacity(file.annotations.len());
    for a in file.annotations {
        let Ok(class) = cats.binary_search(&a.category_id) else {
            bail!(
                "{}: annotation {} has category_id {}, which `categories` does not list",
                path.display(),
                a.id,
                a.category_id
            );
        };
        truth.push(Truth {
            image: a.image_id,
            class,
            bbox: a.bbox,
            area: a.area.unwrap_or(a.bbox[2] * a.bbox[3]),
            crowd: a.iscrowd != 0,
            // pycocotools overwrites a file's `ignore` with `iscrowd`, so it is not read.
            ignore: false,
        });
    }
    Ok((images, cats, truth))
}

/// A COCO results file (a list of `image_id`, `category_id`, `bbox`, `score`), with category
/// ids mapped through `cats` (those not in it are dropped, as pycocotools never evaluates them).
pub fn read_detections(path: &Path, cats: &[u64]) -> anyhow::Result<Vec<Detection>> {
    #[derive(serde::Deserialize)]
    struct Det {
        image_id: u64,
        category_id: u64,
        bbox: [f64; 4],
        score: f64,
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let dets: Vec<Det> = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a COCO results file", path.display()))?;
    Ok(dets
        .into_iter()
        .filter_map(|d| {
            let class = cats.binary_search(&d.category_id).ok()?;
            Some(Detection {
                image: d.image_id,
                class,
                bbox: d.bbox,
                score: d.score,
            })
        })
        .collect())
}

/// Writes detections as a COCO results file, class k as category id `category_ids[k]`,
/// atomically.
pub fn write_detections(
    path: &Path,
    detections: &[Detection],
    category_ids: &[u64],
) -> anyhow::Result<()> {
    let rows: Vec<serde_json::Value> = detections.iter().map(|d| d.to_coco(category_ids)).collect();
    write_json(path, &serde_json::Value::Array(rows))
}

/// Writes the ground truth of `scenes` as a COCO annotation file (no pixels: images by id and
/// size) of a dataset's categories, atomically.
pub fn write_truth(
    path: &Path,
    scenes: &[super::Scene],
    ds: &super::DetDataset,
) -> anyhow::Result<()> {
    let id_of = |class: usize| {
        ds.category_ids
            .get(class)
            .copied()
            .unwrap_or(class as u64 + 1)
    };
    let mut annotations = Vec::new();
    for s in scenes {
        for o in &s.objects {
            let b = o.bbox;
            let bbox = [b.x, b.y, b.w, b.h].map(f64::from);
            let id = annotations.len() + 1;
            annotations.push(serde_json::json!({
                "id": id,
                "image_id": s.id,
                "category_id": id_of(o.class),
                "bbox": bbox,
                "area": f64::from(o.area),
                "iscrowd": u8::from(o.crowd),
            }));
        }
    }
    let file = serde_json::json!({
        "images": scenes.iter().map(|s| serde_json::json!({
            "id": s.id, "file_name": s.file, "width": s.width, "height": s.height,
        })).collect::<Vec<_>>(),
        "annotations": annotations,
        "categories": ds.classes.iter().enumerate().map(|(k, name)| serde_json::json!({
            "id": id_of(k), "name": name,
        })).collect::<Vec<_>>(),
    });
    write_json(path, &file)
}

fn write_json(path: &Path, value: &serde_json::Value) -> anyhow::Result<()> {
    crate::io::write_atomic(path, &serde_json::to_vec(value)?)
}
