//! The automatic choice of runs at once and threads per run.

use sweep::sweep::workers::{choose, run_bytes, total_memory};

const GIB: u64 = 1 << 30;

#[test]
fn parallel_runs_first_then_threads_for_idle_cores() {
    let small = run_bytes(200_000);
    // A grid larger than the machine: one single-threaded run per core.
    assert_eq!(choose(24, 2, small, 24 * GIB), (2, 1));
    assert_eq!(choose(100, 16, small, 64 * GIB), (16, 1));
    // Fewer runs than cores: the idle cores become threads.
    assert_eq!(choose(1, 16, small, 64 * GIB), (1, 16));
    assert_eq!(choose(3, 16, small, 64 * GIB), (3, 5));
    // A model whose runs do not all fit in half the RAM: fewer at once (12 GiB / 2.3 GiB = 5),
    // the idle cores as threads (16 / 5 = 3).
    let vgg = run_bytes(138_000_000);
    assert!(vgg > 2 * GIB && vgg < 3 * GIB, "{vgg}");
    assert_eq!(choose(100, 16, vgg, 24 * GIB), (5, 3));
    // Never below one run on one thread.
    assert_eq!(choose(0, 0, vgg, GIB), (1, 1));
}

#[test]
fn this_machine_reports_its_memory() {
    let m = total_memory().expect("/proc/meminfo on Linux");
    assert!(m > 256 << 20, "{m} bytes of RAM");
}
