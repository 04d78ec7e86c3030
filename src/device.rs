//! Compute devices: the CPU (burn's flex backend), GPUs through the `cuda` and `vulkan` cargo
//! features, or LibTorch (CPU or CUDA) through the `tch` feature.

use std::fmt;
use std::str::FromStr;

use anyhow::bail;
use burn::tensor::Device;

/// Where runs train, as `--device` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Choice {
    /// The CPU, through burn's flex backend.
    #[default]
    Cpu,
    /// CUDA GPUs: one (`cuda:N`) or all of them, runs spread over them (`cuda`).
    Cuda(Option<usize>),
    /// GPUs through Vulkan: one (`vulkan:N`) or all of them (`vulkan`).
    Vulkan(Option<usize>),
    /// LibTorch on the CPU (`tch`).
    TchCpu,
    /// LibTorch on CUDA GPUs: one (`tch:cuda:N`) or all of them (`tch:cuda`).
    TchCuda(Option<usize>),
}

impl FromStr for Choice {
    type Err = String;

    fn from_str(s: &str) -> Result<Choice, String> {
        let (kind, rest) = match s.strip_prefix("tch:") {
            Some(rest) => (
                "tch:cuda",
                rest.strip_prefix("cuda").ok_or_else(|| {
                    format!("unknown device `{s}`: LibTorch takes tch, tch:cuda or tch:cuda:N")
                })?,
            ),
            None => match s.find(':') {
                Some(at) => (&s[..at], &s[at..]),
                None => (s, ""),
            },
        };
        let index = match rest {
            "" => None,
            _ => match rest.strip_prefix(':').map(str::parse::<usize>) {
                Some(Ok(i)) => Some(i),
                _ => {
                    let i = rest.trim_start_matches(':');
                    return Err(format!("`{i}` is not a device number (try `{kind}:0`)"));
                }
            },
        };
        match (kind, index) {
            ("cpu", None) => Ok(Choice::Cpu),
            ("cuda", i) => Ok(Choice::Cuda(i)),
            ("vulkan", i) => Ok(Choice::Vulkan(i)),
            ("tch", None) => Ok(Choice::TchCpu),
            ("tch:cuda", i) => Ok(Choice::TchCuda(i)),
            _ => Err(format!(
                "unknown device `{s}`: use cpu, cuda, cuda:N, vulkan, vulkan:N, tch, tch:cuda or tch:cuda:N"
            )),
        }
    }
}

impl fmt::Display for Choice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (kind, index) = match self {
            Choice::Cpu => return write!(f, "cpu"),
            Choice::TchCpu => return write!(f, "tch"),
            Choice::Cuda(i) => ("cuda", i),
            Choice::Vulkan(i) => ("vulkan", i),
            Choice::TchCuda(i) => ("tch:cuda", i),
        };
        match index {
            Some(i) => write!(f, "{kind}:{i}"),
            None => write!(f, "{kind}"),
        }
    }
}

impl Choice {
    /// The training (autodiff) devices runs are spread over: one for the CPU or a numbered GPU,
    /// every GPU found otherwise. Fails with what to do when the binary was built without the
    /// device's feature or no device answers.
    pub fn open(self) -> anyhow::Result<Vec<Device>> {
        let devices = match self {
            Choice::Cpu => vec![Device::flex()],
            Choice::Cuda(i) => cuda(i)?,
            Choice::Vulkan(i) => vulkan(i)?,
            Choice::TchCpu => tch::cpu()?,
            Choice::TchCuda(i) => tch::cuda(i)?,
        };
        if devices.is_empty() {
            bail!("no {self} device found; check the GPU driver (nvidia-smi, vulkaninfo)");
        }
        for d in &devices {
            probe(self, d)?;
        }
        Ok(devices.into_iter().map(|d| d.autodiff()).collect())
    }
}

/// A tiny computation, so a missing driver is one clear error here, not a panic in every run.
fn probe(choice: Choice, device: &Device) -> anyhow::Result<()> {
    // Quietly: a failing driver's panic (LibTorch's carries a C++ backtrace) becomes one line.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = std::panic::catch_unwind(|| {
        let t = burn::tensor::Tensor::<1>::ones([4], device);
        t.sum().into_scalar::<f32>()
    });
    std::panic::set_hook(hook);
    match result {
        Ok(4.0) => Ok(()),
        Ok(x) => bail!("the {choice} device computed 1+1+1+1 = {x}; its driver is broken"),
        Err(panic) => {
            let msg = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("no message")
                .lines()
                .next()
                .unwrap_or_default();
            bail!(
                "the {choice} device did not start ({msg}); check the GPU driver (nvidia-smi, vulkaninfo) or use --device cpu"
            )
        }
    }
}

#[cfg(feature = "cuda")]
fn cuda(index: Option<usize>) -> anyhow::Result<Vec<Device>> {
    Ok(match index {
        Some(i) => vec![Device::cuda(i)],
        None => Device::enumerate(burn::tensor::DeviceType::Cuda).to_vec(),
    })
}

#[cfg(not(feature = "cuda"))]
fn cuda(_: Option<usize>) -> anyhow::Result<Vec<Device>> {
    bail!(
        "this sweep was built without CUDA: build it with `cargo build --release --features cuda` (see the README's GPU section), or use --device vulkan"
    )
}

#[cfg(feature = "vulkan")]
fn vulkan(index: Option<usize>) -> anyhow::Result<Vec<Device>> {
    use burn::tensor::DeviceKind;
    Ok(match index {
        Some(i) => vec![Device::vulkan(DeviceKind::DiscreteGpu(i))],
        None => Device::enumerate(burn::tensor::DeviceType::Vulkan).to_vec(),
    })
}

#[cfg(not(feature = "vulkan"))]
fn vulkan(_: Option<usize>) -> anyhow::Result<Vec<Device>> {
    bail!(
        "this sweep was built without Vulkan: build it with `cargo build --release --features vulkan` (see the README's GPU section)"
    )
}

/// How the manifest names the backend of `device`: `flex (CPU, kernels 2)`, `libtorch 2.9.0+cu128 (CPU)`,
/// or burn's name for a GPU.
pub fn describe(device: &Device) -> String {
    let name = format!("{device:?}");
    if name.contains("Flex") {
        return format!(
            "flex (CPU, kernels {})",
            crate::model::kernels::FLEX_REVISION
        );
    }
    match Choice::of(device) {
        Choice::TchCpu => format!("libtorch {} (CPU)", tch::version()),
        Choice::TchCuda(i) => format!("libtorch {} (CUDA {})", tch::version(), i.unwrap_or(0)),
        _ => name,
    }
}

impl Choice {
    /// The `--device` that names `device` (with its number), so `sweep verify` can train a run
    /// again where it first trained.
    pub fn of(device: &Device) -> Choice {
        let name = format!("{device:?}");
        let number = || {
            let digits: String = name
                .chars()
                .skip_while(|c| !c.is_ascii_digit())
                .take_while(char::is_ascii_digit)
                .collect();
            digits.parse().ok()
        };
        if name.contains("LibTorch") {
            match name.contains("Cuda") {
                true => Choice::TchCuda(number()),
                false => Choice::TchCpu,
            }
        } else if name.contains("Cuda") {
            Choice::Cuda(number())
        } else if name.contains("Vulkan") || name.contains("Wgpu") {
            Choice::Vulkan(number())
        } else {
            Choice::Cpu
        }
    }
}

/// For the benchmark programs: the first device `name` (a `--device` value) opens, with its
/// compute threads set from `RAYON_NUM_THREADS` (1 when unset) as `sweep run` sets them; a name
/// ending in `-burn` (`cpu-burn`) runs burn's stock layers instead of sweep's kernels.
pub fn for_benchmark(name: &str) -> Device {
    keep_freed_memory();
    // `cpu-burn`: flex with burn's stock layers instead of sweep's kernels, to measure both.
    let name = match name.strip_suffix("-burn") {
        Some(plain) => {
            crate::model::kernels::use_stock_layers(true);
            plain
        }
        None => name,
    };
    let choice: Choice = name.parse().unwrap_or_else(|e| panic!("{e}"));
    let device = choice.open().unwrap_or_else(|e| panic!("{e:#}"))[0].clone();
    use_threads(benchmark_threads());
    device
}

/// The compute threads of a benchmark program: `RAYON_NUM_THREADS`, 1 when unset.
fn benchmark_threads() -> usize {
    std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(1)
}

/// The rayon pool a run's compute goes to: `threads` threads (LibTorch told too), with stacks
/// deep enough for loading a big backbone's weights, which recurses through burn-store.
/// Training runs inside it (`pool.install`), as `sweep run` does: a kernel's parallel loop
/// called from outside the pool hands its work to a pool thread and sleeps until it is done, a
/// wake-up per call that costs more than a small layer's arithmetic.
pub fn compute_pool(threads: usize) -> Result<rayon::ThreadPool, rayon::ThreadPoolBuildError> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .stack_size(64 << 20)
        .start_handler(move |_| use_threads(threads))
        .build()
}

/// For the benchmark programs: runs `f` in a [`compute_pool`] of `RAYON_NUM_THREADS` threads,
/// as `sweep run` runs training.
pub fn in_benchmark_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    compute_pool(benchmark_threads())
        .unwrap_or_else(|e| panic!("no thread pool: {e}"))
        .install(f)
}

/// Makes glibc's allocator keep freed memory for the next allocation instead of returning it to
/// the system: a training step frees and allocates the same large tensors every step, and with
/// glibc's defaults each one comes back as fresh pages the kernel faults in and zeroes (about
/// 15% of a flex training step, measured: BENCHMARKS.md, "Flex kernels"). Call once, early.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; it is called before heavy allocation.
    unsafe {
        // Allocations up to 32 MiB (glibc's largest setting) from the heap, and the heap never
        // trimmed; setting the threshold also stops glibc from moving it.
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 25);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
    }
}

/// Makes the calling thread's compute use `threads` threads. burn-flex runs on the caller's rayon
/// pool, so only LibTorch needs telling: its intra-op (OpenMP) thread count is per calling thread
/// and would otherwise be one per core, whatever `--threads` says.
pub fn use_threads(threads: usize) {
    tch::set_threads(threads.max(1));
}

#[cfg(feature = "tch")]
#[allow(deprecated)] // burn-tch is deprecated upstream; it is optional here (see the README)
mod tch {
    use super::Device;

    /// The LibTorch CPU device.
    pub fn cpu() -> anyhow::Result<Vec<Device>> {
        Ok(vec![Device::libtorch()])
    }

    /// LibTorch's CUDA devices: one, or all it finds; none is one clear error, not a backtrace.
    pub fn cuda(index: Option<usize>) -> anyhow::Result<Vec<Device>> {
        let count = ::tch::Cuda::device_count().max(0) as usize;
        if count == 0 {
            anyhow::bail!(
                "LibTorch finds no CUDA GPU (libtorch {}: is the NVIDIA driver installed? nvidia-smi tells); use --device tch for its CPU kernels",
                version()
            );
        }
        match index {
            Some(i) if i >= count => anyhow::bail!(
                "there is no tch:cuda:{i}: LibTorch finds {count} CUDA GPU(s), tch:cuda:0 to tch:cuda:{}",
                count - 1
            ),
            Some(i) => Ok(vec![Device::libtorch_cuda(i)]),
            None => Ok((0..count).map(Device::libtorch_cuda).collect()),
        }
    }

    /// The libtorch version linked at build time (from its `torch/version.py`).
    pub fn version() -> &'static str {
        env!("SWEEP_LIBTORCH_VERSION")
    }

    /// Sets LibTorch's intra-op thread count for the calling thread.
    pub fn set_threads(threads: usize) {
        ::tch::set_num_threads(threads as i32);
    }

    /// LibTorch's intra-op thread count for the calling thread.
    pub fn threads() -> usize {
        ::tch::get_num_threads() as usize
    }
}

#[cfg(not(feature = "tch"))]
mod tch {
    use super::Device;

    const NOT_BUILT: &str = "this sweep was built without LibTorch: build it with `cargo build --release --features tch` after `pip install torch==2.9.0` (see the README's LibTorch section), or use --device cpu";

    pub fn cpu() -> anyhow::Result<Vec<Device>> {
        anyhow::bail!(NOT_BUILT)
    }

    pub fn cuda(_: Option<usize>) -> anyhow::Result<Vec<Device>> {
        anyhow::bail!(NOT_BUILT)
    }

    pub fn version() -> &'static str {
        "(not built)"
    }

    pub fn set_threads(_: usize) {}

    pub fn threads() -> usize {
        0
    }
}

/// LibTorch's intra-op threads for the calling thread (0 without the `tch` feature): what
/// [`use_threads`] set, for tests.
pub fn libtorch_threads() -> usize {
    tch::threads()
}
