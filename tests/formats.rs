//! Datasets in files (`cifar10:`, `cifar100:`, `folder:`, `idx:`, `csv:`), each read from small
//! files written here in that exact format, and class subsets with relabelling.

use std::io::Write;
use std::path::Path;

use sweep::data::{Dataset, TestSplit, formats};

/// A CIFAR record: label byte(s) then 1024 red, 1024 green, 1024 blue bytes.
fn cifar_record(labels: &[u8], seed: u8) -> Vec<u8> {
    let mut r = labels.to_vec();
    for ch in 0..3u8 {
        r.extend((0..1024u32).map(|p| (p as u8).wrapping_mul(seed).wrapping_add(ch * 80)));
    }
    r
}

#[test]
fn cifar10_binary_batches() {
    let dir = tempfile::tempdir().unwrap();
    let inner = dir.path().join("cifar-10-batches-bin");
    std::fs::create_dir(&inner).unwrap();
    for b in 1..=5u8 {
        let bytes: Vec<u8> = (0..2u8)
            .flat_map(|i| cifar_record(&[(b + i) % 10], b * 2 + i))
            .collect();
        std::fs::write(inner.join(format!("data_batch_{b}.bin")), bytes).unwrap();
    }
    let test: Vec<u8> = (0..3u8).flat_map(|i| cifar_record(&[i], 50 + i)).collect();
    std::fs::write(inner.join("test_batch.bin"), test).unwrap();

    let name = format!("cifar10:{}", dir.path().display());
    let ds = formats::load(&name, 32).unwrap();
    assert_eq!(
        (ds.channels, ds.height, ds.width, ds.len()),
        (3, 32, 32, 13)
    );
    assert_eq!(ds.labels[..4], [1, 2, 2, 3]);
    // Pixel (channel 1, index 5) of the first record: 5 * 2 + 80.
    assert_eq!(ds.pixels[1024 + 5], 90.0 / 255.0);
    let (pool, test) = ds.split();
    assert_eq!((pool.len(), test), (10, vec![10, 11, 12]));

    // A truncated batch names the file.
    std::fs::write(inner.join("data_batch_3.bin"), [1u8; 100]).unwrap();
    let err = format!("{:#}", formats::load(&name, 32).unwrap_err());
    assert!(
        err.contains("data_batch_3.bin") && err.contains("3073-byte"),
        "{err}"
    );
}

#[test]
fn cifar100_fine_and_coarse_labels() {
    let dir = tempfile::tempdir().unwrap();
    let train: Vec<u8> = [[3u8, 71], [19, 5]]
        .iter()
        .flat_map(|l| cifar_record(l, 3))
        .collect();
    std::fs::write(dir.path().join("train.bin"), train).unwrap();
    std::fs::write(dir.path().join("test.bin"), cifar_record(&[7, 99], 4)).unwrap();
    let fine = formats::load(&format!("cifar100:{}", dir.path().display()), 32).unwrap();
    assert_eq!(fine.labels, [71, 5, 99]);
    let coarse = formats::load(&format!("cifar100-coarse:{}", dir.path().display()), 32).unwrap();
    assert_eq!(coarse.labels, [3, 19, 7]);
    assert_eq!(coarse.pixels.len(), 3 * 3072);
}

fn save_png(path: &Path, w: u32, h: u32, rgb: [u8; 3]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    image::RgbImage::from_pixel(w, h, image::Rgb(rgb))
        .save(path)
        .unwrap();
}

#[test]
fn image_folder_with_train_and_test() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    // Classes are the sorted folder names: cat = 0, dog = 1. Sizes differ on purpose.
    save_png(&root.join("train/dog/a.png"), 20, 10, [0, 0, 255]);
    save_png(&root.join("train/cat/b.png"), 12, 12, [255, 0, 0]);
    save_png(&root.join("train/cat/nested/c.png"), 8, 16, [255, 0, 0]);
    image::RgbImage::from_pixel(9, 9, image::Rgb([0, 255, 0]))
        .save(root.join("train/dog/d.jpg"))
        .unwrap();
    std::fs::write(root.join("train/dog/notes.txt"), "not an image").unwrap();
    save_png(&root.join("test/dog/e.png"), 6, 6, [0, 0, 255]);

    let name = format!("folder:{}", root.display());
    let ds = formats::load(&name, 4).unwrap();
    assert_eq!((ds.channels, ds.height, ds.width), (3, 4, 4));
    assert_eq!(ds.labels, [0, 0, 1, 1, 1]);
    // First image: pure red at every pixel of every size.
    assert!(ds.pixels[..16].iter().all(|&v| v == 1.0));
    assert!(ds.pixels[16..48].iter().all(|&v| v == 0.0));
    let (pool, test) = ds.split();
    assert_eq!((pool.len(), test), (4, vec![4]));

    // A test class unknown to train is refused with both folder names.
    save_png(&root.join("test/fox/f.png"), 6, 6, [9, 9, 9]);
    let err = format!("{:#}", formats::load(&name, 4).unwrap_err());
    assert!(err.contains("fox"), "{err}");
}

#[test]
fn grey_image_folder_without_split_has_one_channel() {
    let dir = tempfile::tempdir().unwrap();
    for (class, v) in [("a", 10u8), ("b", 200)] {
        for i in 0..5 {
            let p = dir.path().join(class).join(format!("{i}.png"));
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            image::GrayImage::from_pixel(5, 5, image::Luma([v]))
                .save(&p)
                .unwrap();
        }
    }
    let ds = formats::load(&format!("folder:{}", dir.path().display()), 3).unwrap();
    assert_eq!((ds.channels, ds.len(), ds.classes), (1, 10, 2));
    assert_eq!(ds.pixels[0], 10.0 / 255.0);
    let (pool, test) = ds.split();
    assert_eq!((pool.len(), test.len()), (8, 2));

    let empty = tempfile::tempdir().unwrap();
    let err = format!(
        "{:#}",
        formats::load(&format!("folder:{}", empty.path().display()), 3).unwrap_err()
    );
    assert!(err.contains("no class sub-folders"), "{err}");
}

fn idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 0x08, dims.len() as u8];
    for d in dims {
        out.extend(d.to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

#[test]
fn idx_folder_and_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Two sets in one folder, as EMNIST ships them.
    for (prefix, label) in [("emnist-a-", 1u8), ("emnist-b-", 2)] {
        let imgs: Vec<u8> = (0..3 * 4).map(|v| v as u8 * 10).collect();
        std::fs::write(
            d.join(format!("{prefix}train-images-idx3-ubyte")),
            idx(&[3, 2, 2], &imgs),
        )
        .unwrap();
        std::fs::write(
            d.join(format!("{prefix}train-labels-idx1-ubyte.gz")),
            gz(&idx(&[3], &[0, label, label])),
        )
        .unwrap();
        std::fs::write(
            d.join(format!("{prefix}test-images-idx3-ubyte")),
            idx(&[1, 2, 2], &[1, 2, 3, 4]),
        )
        .unwrap();
        std::fs::write(
            d.join(format!("{prefix}test-labels-idx1-ubyte")),
            idx(&[1], &[label]),
        )
        .unwrap();
    }
    let err = format!(
        "{:#}",
        formats::load(&format!("idx:{}", d.display()), 2).unwrap_err()
    );
    assert!(
        err.contains("several files") && err.contains("emnist-a-"),
        "{err}"
    );

    let ds = formats::load(&format!("idx:{}/emnist-b-", d.display()), 2).unwrap();
    assert_eq!(ds.labels, [0, 2, 2, 2]);
    assert_eq!(ds.pixels[4], 40.0 / 255.0);
    assert_eq!(ds.split().1, vec![3]);
}

#[test]
fn csv_with_a_label_header_or_label_last() {
    let dir = tempfile::tempdir().unwrap();
    let with_header = dir.path().join("h.csv");
    std::fs::write(
        &with_header,
        "label,p0,p1,p2,p3\n1,0,255,0,255\n0,255,255,0,0\n",
    )
    .unwrap();
    let ds = formats::load(&format!("csv:{}", with_header.display()), 2).unwrap();
    assert_eq!(ds.labels, [1, 0]);
    assert_eq!(ds.pixels, [0.0, 1.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0]);

    let last = dir.path().join("l.csv");
    std::fs::write(&last, "0,0.5,0,1,3\n1,1,0,0,4\n").unwrap();
    let ds = formats::load(&format!("csv:{}", last.display()), 2).unwrap();
    assert_eq!(ds.labels, [3, 4]);
    assert_eq!(ds.pixels[1], 0.5);

    let err = format!("{:#}", formats::load("csv:no/such.csv", 2).unwrap_err());
    assert!(
        err.contains("no/such.csv") && err.contains("does not exist"),
        "{err}"
    );
}

#[test]
fn class_subset_relabels_in_list_order_and_keeps_the_official_split() {
    let labels: Vec<u8> = vec![0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 5, 9, 0, 7];
    let pixels: Vec<f32> = (0..labels.len()).map(|i| i as f32).collect();
    let ds = Dataset::new("toy", 1, 1, 1, pixels, labels, TestSplit::Official(10)).unwrap();
    let sub = ds.select_classes(&[9, 5, 7]).unwrap();
    assert_eq!(sub.classes, 3);
    assert_eq!(sub.labels, [1, 2, 0, 1, 0, 2]);
    assert_eq!(sub.pixels, [5.0, 7.0, 9.0, 10.0, 11.0, 13.0]);
    let (pool, test) = sub.split();
    assert_eq!((pool, test), (vec![0, 1, 2], vec![3, 4, 5]));

    let again = Dataset::new(
        "toy",
        1,
        1,
        1,
        vec![0.0; 3],
        vec![0, 1, 2],
        TestSplit::Fraction(0.2),
    )
    .unwrap();
    let err = again.select_classes(&[1, 4]).unwrap_err().to_string();
    assert!(err.contains("class 4"), "{err}");
}

#[test]
fn fashion_mnist_halves_as_source_and_target() {
    // The recipes experiment's split; skipped where the Debian package is missing.
    if !sweep::data::registry::fashion_dir()
        .join("train-images-idx3-ubyte.gz")
        .exists()
    {
        eprintln!("skipped: dataset-fashion-mnist is not installed");
        return;
    }
    let target = sweep::data::prepare("fashion-mnist", &[5, 6, 7, 8, 9], None, 8).unwrap();
    assert_eq!(target.classes, 5);
    assert_eq!((target.pool.len(), target.test.len()), (30_000, 5_000));
    assert!(target.labels.iter().all(|&l| l < 5));
}
