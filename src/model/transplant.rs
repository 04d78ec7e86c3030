//! Transfer depth (Yosinski et al. 2014): a pretrained network keeps its first `n` parts and
//! takes the rest from a fresh network of the run's seed.

use std::collections::HashSet;

use anyhow::bail;
use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::tensor::{Tensor, TensorData};

use super::Network;

/// `pretrained` with its parts from `n` on replaced, parameters and batch-norm statistics
/// alike, by those of `fresh` (the same architecture, initialised from the run's seed); its
/// head stays as it is (already fresh: see [`super::pretrained`]).
pub fn keep_leading(pretrained: Network, n: usize, fresh: &Network) -> anyhow::Result<Network> {
    let parts = pretrained.part_param_ids();
    if n >= parts.len() {
        return Ok(pretrained);
    }
    let replace: HashSet<ParamId> = parts[n..].iter().flatten().copied().collect();
    // Both networks come from one constructor, so they visit their tensors in one order.
    let mut values = Values(Vec::new());
    fresh.visit(&mut values);
    let mut swap = Swap {
        fresh: values.0,
        replace,
        at: 0,
        error: None,
    };
    let net = pretrained.map(&mut swap);
    match swap.error {
        Some(e) => bail!(e),
        None if swap.at != swap.fresh.len() => bail!(
            "the fresh network has {} tensors, the pretrained one {}",
            swap.fresh.len(),
            swap.at
        ),
        None => Ok(net),
    }
}

struct Values(Vec<TensorData>);

impl ModuleVisitor for Values {
    fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
        self.0.push(p.val().into_data());
    }
}

struct Swap {
    fresh: Vec<TensorData>,
    replace: HashSet<ParamId>,
    at: usize,
    error: Option<String>,
}

impl ModuleMapper for Swap {
    fn map_float<const D: usize>(&mut self, p: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let at = self.at;
        self.at += 1;
        if !self.replace.contains(&p.id) {
            return p;
        }
        let Some(data) = self.fresh.get(at).cloned() else {
            self.error = Some("the fresh network has fewer tensors than the pretrained one".into());
            return p;
        };
        p.map(|t| {
            if &t.shape() != data.shape() {
                self.error = Some(format!(
                    "tensor {at}: fresh shape {:?}, pretrained {:?}",
                    data.shape(),
                    t.shape()
                ));
                return t;
            }
            let grad = t.is_require_grad();
            Tensor::<D>::from_data(data, &t.device()).set_require_grad(grad)
        })
    }
}
