//! With the `tch` feature: records where libtorch's libraries are (an rpath, so the binary finds
//! them without `LD_LIBRARY_PATH`) and which version they are (for run manifests), and compiles
//! the C++ shim that reaches libtorch's native backward kernels (src/model/kernels/libtorch.cpp).

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    #[cfg(feature = "tch")]
    libtorch();
}

#[cfg(feature = "tch")]
fn libtorch() {
    use std::path::Path;
    // torch-sys (`links = "tch"`) tells its direct dependents the folder it linked against.
    let lib = std::env::var("DEP_TCH_LIBTORCH_LIB")
        .expect("torch-sys did not say where libtorch is (DEP_TCH_LIBTORCH_LIB)");
    println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    // A pip install has torch/version.py beside torch/lib; a libtorch zip has build-version.
    let root = Path::new(&lib)
        .parent()
        .expect("libtorch's lib folder has a parent");
    let version = std::fs::read_to_string(root.join("version.py"))
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("__version__ = ")
                    .map(|v| v.trim_matches(['\'', '"']).to_string())
            })
        })
        .or_else(|| {
            let v = std::fs::read_to_string(root.join("build-version")).ok()?;
            Some(v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=SWEEP_LIBTORCH_VERSION={version}");
    println!(
        "cargo:rerun-if-changed={}",
        root.join("version.py").display()
    );

    let shim = "src/model/kernels/libtorch.cpp";
    println!("cargo:rerun-if-changed={shim}");
    println!("cargo:rerun-if-env-changed=LIBTORCH_CXX11_ABI");
    // PyTorch's wheels since 2.7 use the C++11 ABI, as does torch-sys's default.
    let abi = std::env::var("LIBTORCH_CXX11_ABI").unwrap_or_else(|_| "1".into());
    cc::Build::new()
        .cpp(true)
        .file(shim)
        .include(root.join("include"))
        .flag("-std=c++17")
        .define("_GLIBCXX_USE_CXX11_ABI", abi.as_str())
        .warnings(false)
        .compile("sweep_libtorch_kernels");
}
