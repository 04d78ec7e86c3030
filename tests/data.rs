//! Loaders on small files the tests write, splits, label budgets and resizing.

use std::collections::HashSet;

use sweep::data::csv_images::{parse_csv_images, read_csv_images};
use sweep::data::idx::{parse_idx, read_idx, write_idx};
use sweep::data::registry::from_idx;
use sweep::data::transform::axis_weights;
use sweep::data::{Dataset, TestSplit, sample_per_class, stratified_split};

#[test]
fn idx_round_trips_raw_and_gzip() {
    let dir = tempfile::tempdir().unwrap();
    let pixels: Vec<u8> = (0..3 * 2 * 4).map(|i| (i * 7 % 256) as u8).collect();
    for name in ["images-idx3-ubyte", "images-idx3-ubyte.gz"] {
        let path = dir.path().join(name);
        write_idx(&path, &[3, 2, 4], &pixels).unwrap();
        let raw = std::fs::read(&path).unwrap();
        assert_eq!(raw.starts_with(&[0x1f, 0x8b]), name.ends_with(".gz"));
        let a = read_idx(&path).unwrap();
        assert_eq!(a.dims, [3, 2, 4]);
        assert_eq!(a.data, pixels);
    }
}

#[test]
fn idx_header_is_checked() {
    // Magic 0x00000803, 2 images of 2x2, but only 7 bytes of pixels.
    let mut bytes = vec![0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2];
    bytes.extend([1u8; 7]);
    let e = parse_idx(&bytes).unwrap_err().to_string();
    assert!(e.contains("need 8 values but the file holds 7"), "{e}");
    let e = parse_idx(&[0, 0, 0x0d, 1, 0, 0, 0, 1, 0, 0, 0, 0])
        .unwrap_err()
        .to_string();
    assert!(e.contains("not supported"), "{e}");
    let e = parse_idx(b"PK\x03\x04").unwrap_err().to_string();
    assert!(e.contains("two zero bytes"), "{e}");
    let e = read_idx(std::path::Path::new("/nonexistent/file.idx"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("/nonexistent/file.idx"), "{e}");
}

#[test]
fn idx_images_and_labels_make_a_dataset() {
    let images = parse_idx(
        &[
            &[0u8, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2][..],
            &[0, 255, 51, 102],
        ]
        .concat(),
    )
    .unwrap();
    let labels = parse_idx(&[0, 0, 8, 1, 0, 0, 0, 2, 3, 1]).unwrap();
    let ds = from_idx("tiny", images, labels.clone(), TestSplit::Fraction(0.5)).unwrap();
    assert_eq!(
        (ds.len(), ds.channels, ds.height, ds.width, ds.classes),
        (2, 1, 1, 2, 4)
    );
    assert_eq!(ds.pixels, [0.0, 1.0, 0.2, 0.4]);
    let short = parse_idx(&[0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 9]).unwrap();
    assert!(from_idx("tiny", short, labels, TestSplit::Fraction(0.5)).is_err());
}

#[test]
fn csv_images_load_from_a_gzip_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("digits.csv.gz");
    let text = "0,1,2,3,7\n4,5,6,16,2\n";
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut enc, text.as_bytes()).unwrap();
    std::fs::write(&path, enc.finish().unwrap()).unwrap();
    let c = read_csv_images(&path).unwrap();
    assert_eq!(c.side, 2);
    assert_eq!(c.pixels, [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 16.0]);
    assert_eq!(c.labels, [7, 2]);
}

#[test]
fn csv_errors_name_the_line() {
    let e = format!(
        "{:#}",
        parse_csv_images("0,1,2,3,1\n0,1,2,1\n").unwrap_err()
    );
    assert!(e.contains("line 2"), "{e}");
    let e = format!("{:#}", parse_csv_images("0,x,2,3,1\n").unwrap_err());
    assert!(e.contains("line 1, column 2"), "{e}");
    let e = format!("{:#}", parse_csv_images("0,1,2,1\n").unwrap_err());
    assert!(e.contains("square"), "{e}");
    let e = format!("{:#}", parse_csv_images("0,1,2,3,1.5\n").unwrap_err());
    assert!(e.contains("label"), "{e}");
}

fn labels(n: usize, classes: u8) -> Vec<u8> {
    (0..n).map(|i| (i * 7 % classes as usize) as u8).collect()
}

#[test]
fn label_budget_is_stratified_stable_and_nested() {
    let y = labels(500, 10);
    let pool: Vec<usize> = (0..500).collect();
    let five = sample_per_class(&pool, &y, 5, 3);
    assert_eq!(five.len(), 50);
    for c in 0..10u8 {
        assert_eq!(five.iter().filter(|&&i| y[i] == c).count(), 5, "class {c}");
    }
    assert_eq!(
        five,
        sample_per_class(&pool, &y, 5, 3),
        "same seed, same sample"
    );
    assert_ne!(
        five,
        sample_per_class(&pool, &y, 5, 4),
        "another seed, another sample"
    );
    let twenty: HashSet<usize> = sample_per_class(&pool, &y, 20, 3).into_iter().collect();
    assert!(
        five.iter().all(|i| twenty.contains(i)),
        "budgets of one seed are nested"
    );
    assert_eq!(sample_per_class(&pool, &y, 0, 3).len(), 500, "0 = all");
    assert_eq!(
        sample_per_class(&pool, &y, 1000, 3).len(),
        500,
        "never more than there is"
    );
}

#[test]
fn splits_are_fixed_disjoint_and_stratified() {
    let y = labels(400, 4);
    let ds = Dataset::new(
        "t",
        1,
        1,
        1,
        vec![0.0; 400],
        y.clone(),
        TestSplit::Fraction(0.25),
    )
    .unwrap();
    let (pool, test) = ds.split();
    assert_eq!((pool.len(), test.len()), (300, 100));
    assert_eq!(
        ds.split(),
        (pool.clone(), test.clone()),
        "the test split never changes"
    );
    let p: HashSet<_> = pool.iter().collect();
    assert!(test.iter().all(|i| !p.contains(i)));
    for c in 0..4u8 {
        assert_eq!(test.iter().filter(|&&i| y[i] == c).count(), 25);
    }
    let (rest, held) = stratified_split(&pool, &y, 0.2, 1);
    assert_eq!((rest.len(), held.len()), (240, 60));
}

#[test]
fn official_test_split_is_the_appended_set() {
    let train = Dataset::new(
        "t",
        1,
        1,
        1,
        vec![0.0; 6],
        vec![0, 1, 0, 1, 0, 1],
        TestSplit::Official(0),
    )
    .unwrap();
    let test = Dataset::new(
        "t",
        1,
        1,
        1,
        vec![1.0; 2],
        vec![1, 2],
        TestSplit::Official(0),
    )
    .unwrap();
    let ds = train.append_test(test).unwrap();
    assert_eq!(ds.split(), ((0..6).collect(), vec![6, 7]));
    assert_eq!(ds.classes, 3);
}

#[test]
fn resize_weights_average_down_and_interpolate_up() {
    for (input, output) in [(28, 16), (8, 16), (16, 16), (7, 3)] {
        for ws in axis_weights(input, output) {
            let sum: f32 = ws.iter().map(|w| w.1).sum();
            assert!((sum - 1.0).abs() < 1e-5, "{input}->{output}: {ws:?}");
        }
    }
    // Halving averages pairs; doubling puts quarter weights between centres (align_corners=False).
    assert_eq!(axis_weights(4, 2)[1], vec![(2, 0.5), (3, 0.5)]);
    assert_eq!(axis_weights(2, 4)[1], vec![(0, 0.75), (1, 0.25)]);
    assert_eq!(axis_weights(2, 4)[0], vec![(0, 1.0)]);
}

#[test]
fn bundled_datasets_load() {
    let uci = sweep::data::prepare("uci-digits", &[], None, 8).unwrap();
    assert_eq!(
        (uci.labels.len(), uci.classes, uci.channels, uci.size),
        (1797, 10, 1, 8)
    );
    assert_eq!(uci.pool.len() + uci.test.len(), 1797);
    // Normalised with the pool's statistics: mean 0, std 1 over the pool.
    let per = 64;
    let vals: Vec<f32> = uci
        .pool
        .iter()
        .flat_map(|&i| uci.pixels[i * per..(i + 1) * per].to_vec())
        .collect();
    let mean = vals.iter().map(|&v| f64::from(v)).sum::<f64>() / vals.len() as f64;
    let var = vals
        .iter()
        .map(|&v| (f64::from(v) - mean).powi(2))
        .sum::<f64>()
        / vals.len() as f64;
    assert!(
        mean.abs() < 1e-4 && (var - 1.0).abs() < 1e-3,
        "mean {mean} var {var}"
    );
    let mnist = sweep::data::prepare("mnist-10k", &[], Some(20), 16).unwrap();
    assert_eq!(
        (mnist.labels.len(), mnist.classes, mnist.size),
        (10_000, 10, 16)
    );
    assert_eq!(mnist.test.len(), 2000);
}

#[test]
fn fashion_mnist_loads_its_four_idx_files_with_the_official_test_split() {
    use sweep::data::registry::load_fashion_mnist_from;
    let dir = tempfile::tempdir().unwrap();
    let e = format!("{:#}", load_fashion_mnist_from(dir.path()).unwrap_err());
    assert!(e.contains("apt-get install dataset-fashion-mnist"), "{e}");
    let write = |name: &str, dims: &[usize], data: &[u8]| {
        write_idx(&dir.path().join(name), dims, data).unwrap()
    };
    write("train-images-idx3-ubyte.gz", &[3, 2, 2], &[255; 12]);
    write("train-labels-idx1-ubyte.gz", &[3], &[0, 1, 9]);
    write("t10k-images-idx3-ubyte.gz", &[2, 2, 2], &[0; 8]);
    write("t10k-labels-idx1-ubyte.gz", &[2], &[4, 5]);
    let ds = load_fashion_mnist_from(dir.path()).unwrap();
    assert_eq!((ds.len(), ds.classes, ds.height), (5, 10, 2));
    assert_eq!(ds.split(), (vec![0, 1, 2], vec![3, 4]));
    assert_eq!(ds.pixels[0], 1.0);
}

#[test]
fn target_limits_keep_fixed_stratified_subsets_of_real_images() {
    let t: sweep::spec::schema::Target =
        toml::from_str("dataset = \"uci-digits\"\nlimit = 300\ntest_limit = 100").unwrap();
    let full = sweep::data::prepare("uci-digits", &[], None, 8).unwrap();
    let cut = sweep::data::target(&t, 8, None).unwrap();
    assert!(cut.pool.len().abs_diff(300) <= 10, "{}", cut.pool.len());
    assert!(cut.test.len().abs_diff(100) <= 10, "{}", cut.test.len());
    assert_eq!(cut.labels.len(), cut.pool.len() + cut.test.len());
    assert!(cut.pool.iter().all(|i| !cut.test.contains(i)));
    // Stratified: every class keeps about its share (UCI digits are balanced: ~30 and ~10).
    for class in 0..10u8 {
        let n = cut.pool.iter().filter(|&&i| cut.labels[i] == class).count();
        assert!((27..=33).contains(&n), "class {class}: {n} pool images");
    }
    // Each kept image is one of the full set, with its label, pool from pool and test from test.
    let per = full.channels * full.size * full.size;
    let row = |p: &sweep::data::Prepared, i: usize| p.pixels[i * per..(i + 1) * per].to_vec();
    let mut index: std::collections::HashMap<Vec<u32>, Vec<usize>> = Default::default();
    for i in 0..full.labels.len() {
        let bits = row(&full, i).iter().map(|x| x.to_bits()).collect();
        index.entry(bits).or_default().push(i);
    }
    for (part, from) in [(&cut.pool, &full.pool), (&cut.test, &full.test)] {
        for &i in part {
            let bits: Vec<u32> = row(&cut, i).iter().map(|x| x.to_bits()).collect();
            // (Identical 8x8 digits exist, so any copy will do.)
            assert!(
                index[&bits]
                    .iter()
                    .any(|j| from.contains(j) && cut.labels[i] == full.labels[*j])
            );
        }
    }
    // Fixed: the same subset every time, whatever the run.
    let again = full.subset(Some(300), Some(100));
    assert_eq!(again.pixels, cut.pixels);
    assert_eq!(again.labels, cut.labels);
    assert_eq!(
        (cut.mean.clone(), cut.std.clone()),
        (full.mean.clone(), full.std.clone())
    );
}
