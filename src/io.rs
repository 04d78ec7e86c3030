//! Writing files so that nothing is lost on a crash and a full disk is named as such: any layer
//! may use it.

use std::io::Write;
use std::path::Path;

/// Writes a file under a temporary name and renames it, so readers never see half a file.
/// The temporary name is this writer's own (process and call), so processes sharing a results
/// folder never write into each other's.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    static WRITES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = path.with_extension(format!(
        "{}.{}-{n}.tmp",
        path.extension().and_then(|e| e.to_str()).unwrap_or(""),
        std::process::id()
    ));
    let written = std::fs::File::create(&tmp).and_then(|mut f| {
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    });
    written.map_err(|e| {
        // A partial file would only hold on to the space a full disk lacks.
        let _ = std::fs::remove_file(&tmp);
        write_error(path, e)
    })
}

/// The error of a failed write of `path`, saying so plainly when the disk is full.
pub fn write_error(path: &Path, e: std::io::Error) -> anyhow::Error {
    let what = if disk_full(&e) {
        format!("cannot write {} (the disk is full)", path.display())
    } else {
        format!("cannot write {}", path.display())
    };
    anyhow::Error::new(e).context(what)
}

fn disk_full(e: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    matches!(e.kind(), ErrorKind::StorageFull | ErrorKind::QuotaExceeded)
}

/// Whether an error is the disk (or a quota) running out of space: a fault of the machine,
/// not of the run.
pub fn is_disk_full(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>().is_some_and(disk_full)
            || is_disk_full_message(&c.to_string())
    })
}

/// [`is_disk_full`] for an error already turned into text (a failed run's message), by the
/// OS's wording as `io::Error` prints it (Linux, macOS, Windows).
pub fn is_disk_full_message(message: &str) -> bool {
    [
        "No space left on device",
        "Disk quota exceeded",
        "not enough space on the disk",
    ]
    .iter()
    .any(|m| message.contains(m))
}
