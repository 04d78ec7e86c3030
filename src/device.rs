//! Compute devices: the CPU (burn's flex backend), or GPUs through the `cuda` and `vulkan` cargo
//! features.

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
}

impl FromStr for Choice {
    type Err = String;

    fn from_str(s: &str) -> Result<Choice, String> {
        let (kind, index) = match s.split_once(':') {
            Some((k, i)) => match i.parse::<usize>() {
                Ok(i) => (k, Some(i)),
                Err(_) => return Err(format!("`{i}` is not a device number (try `{k}:0`)")),
            },
            None => (s, None),
        };
        match (kind, index) {
            ("cpu", None) => Ok(Choice::Cpu),
            ("cuda", i) => Ok(Choice::Cuda(i)),
            ("vulkan", i) => Ok(Choice::Vulkan(i)),
            _ => Err(format!(
                "unknown device `{s}`: use cpu, cuda, cuda:N, vulkan or vulkan:N"
            )),
        }
    }
}

impl fmt::Display for Choice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (kind, index) = match self {
            Choice::Cpu => return write!(f, "cpu"),
            Choice::Cuda(i) => ("cuda", i),
            Choice::Vulkan(i) => ("vulkan", i),
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
    let result = std::panic::catch_unwind(|| {
        let t = burn::tensor::Tensor::<1>::ones([4], device);
        t.sum().into_scalar::<f32>()
    });
    match result {
        Ok(4.0) => Ok(()),
        Ok(x) => bail!("the {choice} device computed 1+1+1+1 = {x}; its driver is broken"),
        Err(panic) => {
            let msg = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("no message");
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

/// How the manifest names the backend of `device`: `flex (CPU)`, or burn's name for a GPU.
pub fn describe(device: &Device) -> String {
    let name = format!("{device:?}");
    match name.contains("Flex") {
        true => "flex (CPU)".into(),
        false => name,
    }
}
