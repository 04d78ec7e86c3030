//! Pretrained weights by URL: downloaded once into a cache, checksum verified, resumable.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use sha2::{Digest, Sha256};

/// Cache folder: `$SWEEP_CACHE_DIR`, else `~/.cache/sweep`.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("SWEEP_CACHE_DIR") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    home.join(".cache").join("sweep")
}

/// True for the URLs `[model] weights` may name instead of a file.
pub fn is_url(s: &str) -> bool {
    s.starts_with("https://") || s.starts_with("http://")
}

/// Plain http is accepted for this machine only (tests, local mirrors); anything else needs https.
pub fn check_url(url: &str) -> Result<(), String> {
    if url.starts_with("https://") {
        return Ok(());
    }
    let host = url
        .trim_start_matches("http://")
        .split(['/', ':'])
        .next()
        .unwrap_or("");
    if matches!(host, "127.0.0.1" | "localhost" | "[::1]") {
        return Ok(());
    }
    Err(format!("`{url}` is plain http; use an https:// address"))
}

/// Hex SHA-256 of a file.
pub fn sha256_file(path: &Path) -> anyhow::Result<String> {
    let mut f =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(format!("{:x}", h.finalize()))
}

/// The local copy of `url`, downloading it into `cache` first if needed.
///
/// The file is named by its checksum; an interrupted download continues from where it stopped
/// (HTTP range request); a file whose SHA-256 differs from `sha256` is deleted, never used.
pub fn fetch(url: &str, sha256: &str, cache: &Path) -> anyhow::Result<PathBuf> {
    check_url(url).map_err(anyhow::Error::msg)?;
    let sha256 = sha256.to_ascii_lowercase();
    let name = url.rsplit('/').next().unwrap_or("weights");
    let ext = Path::new(name)
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("safetensors");
    std::fs::create_dir_all(cache).with_context(|| format!("cannot create {}", cache.display()))?;
    let target = cache.join(format!("{sha256}.{ext}"));
    // Only a verified download is ever renamed to its checksum's name.
    if target.is_file() {
        return Ok(target);
    }
    let part = cache.join(format!("{sha256}.{ext}.part"));
    let have = std::fs::metadata(&part).map_or(0, |m| m.len());
    let mut request = ureq::get(url);
    if have > 0 {
        request = request.header("Range", &format!("bytes={have}-"));
    }
    match request.call() {
        Ok(response) => {
            let resumed = response.status().as_u16() == 206;
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(resumed)
                .write(true)
                .truncate(!resumed)
                .open(&part)
                .with_context(|| format!("cannot write {}", part.display()))?;
            let mut body = response.into_body().into_reader();
            let mut buf = vec![0u8; 1 << 16];
            loop {
                let n = body.read(&mut buf).with_context(|| {
                    format!("download of {url} interrupted; run again to resume")
                })?;
                if n == 0 {
                    break;
                }
                file.write_all(&buf[..n])?;
            }
            file.sync_all()?;
        }
        // 416: the partial file is already whole.
        Err(ureq::Error::StatusCode(416)) if have > 0 => {}
        Err(e) => bail!("cannot download {url}: {e}"),
    }
    let got = sha256_file(&part)?;
    if got != sha256 {
        std::fs::remove_file(&part).ok();
        bail!(
            "{url}: checksum mismatch (expected sha256 {sha256}, got {got}); the download was deleted"
        );
    }
    std::fs::rename(&part, &target)?;
    Ok(target)
}
