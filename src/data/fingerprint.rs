//! Content fingerprints of the files a run reads (its datasets and weights), part of its id:
//! a changed data file gives new run ids, so stale results are never reused.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use sha2::{Digest, Sha256};

use super::{formats, registry};

/// Fingerprint of files that are not there (yet): planning works, loading will say what is missing.
pub const ABSENT: &str = "absent";

/// SHA-256 (hex) over the names and contents of every file dataset `name` is read from.
pub fn dataset(name: &str) -> String {
    let files = dataset_files(name);
    if files.is_empty() {
        return ABSENT.into();
    }
    let mut h = Sha256::new();
    for (label, f) in &files {
        let Some(content) = file(f) else {
            return ABSENT.into();
        };
        h.update(label.as_bytes());
        h.update([0]);
        h.update(content.as_bytes());
    }
    format!("{:x}", h.finalize())
}

/// SHA-256 (hex) of one file's content; `None` when it cannot be read.
///
/// Remembered per (path, size, modification time), so planning one file many times hashes it once.
pub fn file(path: &Path) -> Option<String> {
    type Key = (PathBuf, u64, SystemTime);
    static SEEN: Mutex<Option<HashMap<Key, String>>> = Mutex::new(None);
    let meta = std::fs::metadata(path).ok()?;
    let key = (path.to_path_buf(), meta.len(), meta.modified().ok()?);
    if let Some(hex) = SEEN.lock().ok()?.get_or_insert_default().get(&key) {
        return Some(hex.clone());
    }
    let mut reader = std::fs::File::open(path).ok()?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = reader.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    let hex = format!("{:x}", h.finalize());
    SEEN.lock()
        .ok()?
        .get_or_insert_default()
        .insert(key, hex.clone());
    Some(hex)
}

/// The files a dataset is read from, sorted, each with its path under the dataset's folder
/// (an image folder's labels are its sub-folder names); empty when they are not there.
fn dataset_files(name: &str) -> Vec<(String, PathBuf)> {
    let named = |files: Vec<PathBuf>, root: &Path| -> Vec<(String, PathBuf)> {
        let mut files: Vec<(String, PathBuf)> = files
            .into_iter()
            .map(|f| {
                let rel = f.strip_prefix(root).unwrap_or(&f);
                (rel.to_string_lossy().replace('\\', "/"), f)
            })
            .collect();
        files.sort();
        files
    };
    let folder = |dir: PathBuf| -> Vec<(String, PathBuf)> {
        let files = walkdir::WalkDir::new(&dir)
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_file())
            .map(walkdir::DirEntry::into_path)
            .collect();
        named(files, &dir)
    };
    match name {
        "mnist-10k" | "uci-digits" => return folder(registry::data_dir().join(name)),
        // Generated from MNIST-10k; its settings are in the run's config.
        "digit-scenes" => return folder(registry::data_dir().join("mnist-10k")),
        "fashion-mnist" => {
            let dir = registry::fashion_dir();
            let files = ["train-images", "train-labels", "t10k-images", "t10k-labels"]
                .iter()
                .map(|f| {
                    let kind = if f.ends_with("images") { 3 } else { 1 };
                    dir.join(format!("{f}-idx{kind}-ubyte.gz"))
                })
                .collect();
            return named(files, &dir);
        }
        _ => {}
    }
    if let Some((prefix, path)) = crate::data::names::detect(name) {
        // The images' folder, and a COCO dataset's annotation file.
        let (file, images) = crate::data::names::paths(prefix, path);
        let mut files = folder(images);
        if prefix == "coco" {
            files.push((file.to_string_lossy().into_owned(), file));
        }
        return files;
    }
    let Some((format, path)) = formats::parse(name) else {
        return vec![];
    };
    let path = Path::new(path);
    if path.is_file() {
        return named(vec![path.to_path_buf()], path.parent().unwrap_or(path));
    }
    if path.is_dir() {
        return folder(path.to_path_buf());
    }
    // `idx:DIR/PREFIX`: the files of DIR whose names start with PREFIX.
    if format.prefix == "idx"
        && let (Some(dir), Some(prefix)) = (path.parent(), path.file_name())
    {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        let prefix = prefix.to_string_lossy();
        let files = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.is_file()
                    && p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with(&*prefix))
            })
            .collect();
        return named(files, dir);
    }
    vec![]
}
