//! What freezing promises, checked: the values that must not move while a run trains.

use burn::module::{Flag, Module, ModuleVisitor, Param};
use burn::tensor::Tensor;

/// Every frozen value by its path: tensors without gradients, and the running statistics of
/// batch norms in eval mode (a frozen part's, unless its policy lets statistics train).
pub fn values<M: Module>(m: &M) -> Vec<(String, Vec<f32>)> {
    let mut v = Collector::default();
    m.visit(&mut v);
    v.out
}

/// Checks that every value in `before` (from [`values`]) is bit for bit the same in `after`;
/// the error names the first one that moved. A part that stopped being frozen by mistake is
/// caught too, since `before` is what was promised, not what `after` considers frozen.
pub fn check<M: Module>(before: &[(String, Vec<f32>)], after: &M) -> Result<(), String> {
    let all = all_values(after);
    let now: std::collections::HashMap<&str, &Vec<f32>> =
        all.iter().map(|(p, x)| (p.as_str(), x)).collect();
    for (path, old) in before {
        match now.get(path.as_str()) {
            Some(new) if *new == old => {}
            Some(_) => return Err(format!("frozen tensor `{path}` changed")),
            None => return Err(format!("frozen tensor `{path}` disappeared")),
        }
    }
    Ok(())
}

/// Every parameter and running statistic by its torchvision path (`fc.0.weight`), in visiting
/// order; a linear layer's weight is stored `[in, out]`.
pub fn all_values<M: Module>(m: &M) -> Vec<(String, Vec<f32>)> {
    let mut v = Collector {
        all: true,
        ..Default::default()
    };
    m.visit(&mut v);
    v.out
}

/// SHA-256 (hex) of every parameter and running statistic, by path, in visiting order.
pub fn weights_hash<M: Module>(m: &M) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for (path, values) in &all_values(m) {
        h.update(path.as_bytes());
        h.update([0]);
        for x in values {
            h.update(x.to_le_bytes());
        }
    }
    format!("{:x}", h.finalize())
}

#[derive(Default)]
struct Collector {
    path: Vec<String>,
    bn_training: Option<bool>,
    out: Vec<(String, Vec<f32>)>,
    /// Collect every value, frozen or not.
    all: bool,
}

impl ModuleVisitor for Collector {
    fn enter_module(&mut self, name: &str, container: &str) {
        // A batch norm's mode flag comes before its statistics; any field of another module
        // means that batch norm is behind us.
        if !container.ends_with("BatchNorm") {
            self.bn_training = None;
        }
        if !container.starts_with("Enum") {
            self.path.push(name.to_string());
        }
    }

    fn exit_module(&mut self, _: &str, container: &str) {
        if !container.starts_with("Enum") {
            self.path.pop();
        }
    }

    fn visit_flag(&mut self, flag: &Param<Flag>) {
        self.bn_training = Some(flag.val().is_enabled());
    }

    fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
        let name = self.path.last().map_or("", String::as_str);
        let statistic = name == "running_mean" || name == "running_var";
        let tensor = p.val();
        let frozen = if statistic {
            self.bn_training == Some(false)
        } else {
            !tensor.is_require_grad()
        };
        if frozen || self.all {
            let values = tensor
                .into_data()
                .convert::<f32>()
                .try_to_vec::<f32>()
                .unwrap_or_default();
            self.out.push((self.path.join("."), values));
        }
    }
}
