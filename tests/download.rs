//! Weights by URL, against a server on 127.0.0.1: checksum, cache, resume after a cut.

mod common;

use std::path::Path;

use common::serve;

use sweep::model::download::{fetch, sha256_file};
use sweep::spec::Plan;

fn body() -> Vec<u8> {
    (0..200_000u32).map(|i| (i * 31 % 251) as u8).collect()
}

fn sha(bytes: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x");
    std::fs::write(&p, bytes).unwrap();
    sha256_file(&p).unwrap()
}

#[test]
fn an_interrupted_download_resumes_and_is_then_cached() {
    let body = body();
    let (url, log) = serve(body.clone(), Some(70_000));
    let cache = tempfile::tempdir().unwrap();
    let url = format!("{url}/resnet18.safetensors");
    let first = fetch(&url, &sha(&body), cache.path());
    let e = format!("{:#}", first.unwrap_err());
    assert!(e.contains("interrupted") && e.contains("resume"), "{e}");
    let path = fetch(&url, &sha(&body), cache.path()).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), body);
    assert_eq!(
        *log.lock().unwrap(),
        vec![None, Some("70000".to_string())],
        "second request continues at byte 70000"
    );
    // Third time: from the cache, no request.
    assert_eq!(fetch(&url, &sha(&body), cache.path()).unwrap(), path);
    assert_eq!(log.lock().unwrap().len(), 2);
    assert!(
        path.file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .ends_with(".safetensors")
    );
}

#[test]
fn a_wrong_checksum_is_refused_and_nothing_is_kept() {
    let (url, _) = serve(body(), None);
    let cache = tempfile::tempdir().unwrap();
    let wrong = "0".repeat(64);
    let e = format!(
        "{:#}",
        fetch(&format!("{url}/w.pth"), &wrong, cache.path()).unwrap_err()
    );
    assert!(e.contains("checksum mismatch") && e.contains(&wrong), "{e}");
    assert_eq!(std::fs::read_dir(cache.path()).unwrap().count(), 0);
}

#[test]
fn weight_urls_need_a_checksum_and_https_off_this_machine() {
    let base = "[experiment]\nname = \"u\"\n[target]\ndataset = \"uci-digits\"\n[transfer]\nstrategy = \"finetune\"\n[model]\nbackbone = \"resnet-mini\"\n";
    let e = Plan::parse(
        Path::new("u.toml"),
        &format!("{base}weights = \"https://example.org/w.safetensors\"\n"),
        sweep::task::rules,
    )
    .unwrap_err();
    assert_eq!(e.field.as_deref(), Some("model.sha256"), "{e}");
    let e = Plan::parse(
        Path::new("u.toml"),
        &format!(
            "{base}weights = \"http://example.org/w.safetensors\"\nsha256 = \"{}\"\n",
            "a".repeat(64)
        ),
        sweep::task::rules,
    )
    .unwrap_err();
    assert!(e.to_string().contains("https"), "{e}");
    let ok = Plan::parse(
        Path::new("u.toml"),
        &format!(
            "{base}weights = \"https://example.org/w.safetensors\"\nsha256 = \"{}\"\n",
            "a".repeat(64)
        ),
        sweep::task::rules,
    );
    assert!(ok.is_ok());
}
