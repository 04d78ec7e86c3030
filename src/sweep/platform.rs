//! What a run's floats depend on besides its config: the CPU, the SIMD level burn-flex's kernels
//! dispatched to, the thread count, the backend, burn's version and the OS. Recorded in every
//! manifest so that `sweep verify` on another machine can say why results differ.

use serde::{Deserialize, Serialize};

/// The burn version `sweep` is built against (pinned in Cargo.toml; a test checks they agree).
pub const BURN_VERSION: &str = "0.22.1";

/// The machine facts a run's results depend on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Platform {
    /// CPU vendor (`GenuineIntel`, `AuthenticAMD`, ...).
    #[serde(default)]
    pub cpu_vendor: String,
    /// CPU model name.
    #[serde(default)]
    pub cpu: String,
    /// SIMD level burn-flex's element-wise and reduction kernels run at (macerator's choice).
    #[serde(default)]
    pub simd: String,
    /// Compute threads of the run.
    #[serde(default)]
    pub threads: usize,
    /// Compute backend, with libtorch's version under LibTorch.
    #[serde(default)]
    pub backend: String,
    /// The `--device` the run trained on (`cpu`, `tch`, `cuda:0`, ...), so `sweep verify` trains
    /// it there again; empty in manifests of older `sweep`s, which trained on `cpu`.
    #[serde(default)]
    pub device: String,
    /// burn's version.
    #[serde(default)]
    pub burn: String,
    /// Operating system, with its kernel release where known.
    #[serde(default)]
    pub os: String,
}

impl Platform {
    /// This machine, for a run on `device` with `threads` threads.
    pub fn current(device: &burn::tensor::Device, threads: usize) -> Platform {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let field = |name: &str| {
            cpuinfo
                .lines()
                .find(|l| l.split(':').next().is_some_and(|k| k.trim() == name))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        };
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        Platform {
            cpu_vendor: field("vendor_id").unwrap_or_default(),
            cpu: field("model name").unwrap_or_else(|| std::env::consts::ARCH.to_string()),
            simd: simd_level(),
            threads,
            backend: crate::device::describe(device),
            device: crate::device::Choice::of(device).to_string(),
            burn: BURN_VERSION.to_string(),
            os: format!("{} {}", std::env::consts::OS, release.trim())
                .trim()
                .to_string(),
        }
    }

    /// The facts that differ from `other`, as `what: recorded -> now` (empty when none do).
    /// A fact not recorded (a manifest from an older `sweep`) counts as differing.
    pub fn differences(&self, now: &Platform) -> Vec<String> {
        let facts = [
            ("CPU vendor", &self.cpu_vendor, &now.cpu_vendor),
            ("CPU", &self.cpu, &now.cpu),
            ("SIMD", &self.simd, &now.simd),
            ("backend", &self.backend, &now.backend),
            ("burn", &self.burn, &now.burn),
            ("OS", &self.os, &now.os),
        ];
        let mut out: Vec<String> = facts
            .iter()
            .filter(|(_, a, b)| a != b)
            .map(|(what, a, b)| format!("{what}: {} -> {b}", shown(a)))
            .collect();
        if self.threads != now.threads {
            out.push(format!("threads: {} -> {}", self.threads, now.threads));
        }
        out
    }
}

fn shown(s: &str) -> &str {
    if s.is_empty() { "not recorded" } else { s }
}

/// The SIMD level macerator (burn-flex's SIMD layer) dispatches to on this CPU, e.g.
/// `x86-64-v4 (AVX-512, gemm AVX-512)`. gemm (the convolutions' and matmuls' kernels) picks
/// the same level: its AVX-512 kernels are on (its `x86-v4` feature) since sweep 2026-12-03.
/// Manifests from before say `x86-64-v4 (AVX-512)`, gemm then on AVX2, so `sweep verify` sees
/// the difference and judges such runs within float tolerance instead of bit for bit.
pub fn simd_level() -> String {
    let arch = format!("{:?}", macerator::Arch::detect());
    let meaning = match arch.as_str() {
        "V4" | "V4FP16" => "x86-64-v4 (AVX-512, gemm AVX-512)",
        "V3" => "x86-64-v3 (AVX2, FMA)",
        "V2" => "x86-64-v2 (SSE4.2)",
        "Scalar" => "scalar",
        _ => "",
    };
    match meaning {
        "" => arch,
        m => m.to_string(),
    }
}
