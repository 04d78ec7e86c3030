//! Flex's [`Kernels`]: f32 convolutions (im2col + GEMM, depthwise as direct loops) and fused
//! batch norm in Rust. What these kernels do not take (other dtypes, dilation) goes to burn's
//! own ops, the trait's defaults.

mod columns;
mod conv;
mod depthwise;
mod norm;
mod silu;
mod simd;

use burn::backend::ops::{ConvOptions, FloatTensorOps, ModuleOps};
use burn::backend::tensor::FloatTensor;
use burn::backend::{DType, Flex, TensorMetadata};
use burn::tensor::TensorData;

use super::Kernels;
use conv::Geometry;

/// `t` itself when it is contiguous, else a contiguous copy of it.
fn contiguous(t: FloatTensor<Flex>) -> FloatTensor<Flex> {
    t.to_contiguous()
}

/// The values of a contiguous f32 tensor.
fn values(t: &FloatTensor<Flex>) -> &[f32] {
    t.as_slice::<f32>()
        .expect("a contiguous f32 tensor (checked by the caller)")
}

/// A Flex tensor of `shape` holding `v`.
fn tensor<const D: usize>(v: Vec<f32>, shape: [usize; D]) -> FloatTensor<Flex> {
    Flex::float_from_data(TensorData::new(v, shape), &Default::default())
}

/// The 4-D shape of `t`.
fn dims(t: &FloatTensor<Flex>) -> [usize; 4] {
    let s = t.shape();
    [s[0], s[1], s[2], s[3]]
}

/// The geometry of a convolution these kernels take: f32, 4-D, no dilation.
fn geometry(x: &FloatTensor<Flex>, w: &FloatTensor<Flex>, o: &ConvOptions<2>) -> Option<Geometry> {
    let f32_4d = |t: &FloatTensor<Flex>| t.dtype() == DType::F32 && t.shape().num_dims() == 4;
    if !(f32_4d(x) && f32_4d(w)) {
        return None;
    }
    Geometry::new(dims(x), dims(w), o.stride, o.padding, o.dilation, o.groups)
}

/// The forward pass, on the kernel the geometry calls for.
fn forward(
    g: &Geometry,
    x: FloatTensor<Flex>,
    w: FloatTensor<Flex>,
    b: Option<FloatTensor<Flex>>,
) -> FloatTensor<Flex> {
    let (x, w, b) = (contiguous(x), contiguous(w), b.map(contiguous));
    let bias = b.as_ref().map(values);
    let out = match g.depthwise() {
        true => depthwise::forward(g, values(&x), values(&w), bias),
        false => conv::forward(g, values(&x), values(&w), bias),
    };
    tensor(out, [g.n, g.co, g.oh, g.ow])
}

/// The input gradient.
fn input_grad(g: &Geometry, w: &FloatTensor<Flex>, dy: &FloatTensor<Flex>) -> FloatTensor<Flex> {
    let dx = match g.depthwise() {
        true => depthwise::input_grad(g, values(dy), values(w)),
        false => conv::input_grad(g, values(dy), values(w)),
    };
    tensor(dx, [g.n, g.c, g.h, g.w])
}

/// The weight gradient.
fn weight_grad(g: &Geometry, x: &FloatTensor<Flex>, dy: &FloatTensor<Flex>) -> FloatTensor<Flex> {
    let dw = match g.depthwise() {
        true => depthwise::weight_grad(g, values(x), values(dy)),
        false => conv::weight_grad(g, values(x), values(dy)),
    };
    tensor(dw, [g.co, g.cg(), g.kh, g.kw])
}

/// The batch layout of an f32 tensor with channels in dimension 1, if batch norm takes it.
fn layout(x: &FloatTensor<Flex>) -> Option<norm::Layout> {
    let s = x.shape();
    (x.dtype() == DType::F32 && s.num_dims() >= 2 && s.num_elements() > 0).then(|| norm::Layout {
        n: s[0],
        c: s[1],
        p: s.num_elements() / (s[0] * s[1]),
    })
}

impl Kernels for Flex {
    fn conv2d_nobias(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        match geometry(&x, &weight, &options) {
            Some(g) => forward(&g, x, weight, None),
            None => Self::conv2d(x, weight, None, options),
        }
    }

    fn conv2d_biased(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        match geometry(&x, &weight, &options) {
            Some(g) => forward(&g, x, weight, Some(bias)),
            None => Self::conv2d(x, weight, Some(bias), options),
        }
    }

    fn conv2d_biased_grads(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        options: ConvOptions<2>,
        want_x: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let Some(g) = geometry(&x, &weight, &options) else {
            let gx = match want_x {
                true => Self::conv2d_x_backward(
                    x.clone(),
                    weight.clone(),
                    grad.clone(),
                    options.clone(),
                ),
                false => Self::float_zeros([0].into(), &x.device(), x.dtype().into()),
            };
            let gw = Self::conv2d_weight_backward(x.clone(), weight, grad.clone(), options);
            return (gx, gw, Self::conv2d_bias_backward(x, bias, grad));
        };
        let (x, w, dy) = (contiguous(x), contiguous(weight), contiguous(grad));
        let gx = match want_x {
            true => input_grad(&g, &w, &dy),
            false => tensor(Vec::new(), [0]),
        };
        let gb = tensor(conv::bias_grad(&g, values(&dy)), [g.co]);
        (gx, weight_grad(&g, &x, &dy), gb)
    }

    fn conv2d_grads(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let Some(g) = geometry(&x, &weight, &options) else {
            let gx =
                Self::conv2d_x_backward(x.clone(), weight.clone(), grad.clone(), options.clone());
            return (gx, Self::conv2d_weight_backward(x, weight, grad, options));
        };
        let (x, w, dy) = (contiguous(x), contiguous(weight), contiguous(grad));
        (input_grad(&g, &w, &dy), weight_grad(&g, &x, &dy))
    }

    fn conv2d_x_grad(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        match geometry(&x, &weight, &options) {
            Some(g) => input_grad(&g, &contiguous(weight), &contiguous(grad)),
            None => Self::conv2d_x_backward(x, weight, grad, options),
        }
    }

    fn conv2d_weight_grad(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        match geometry(&x, &weight, &options) {
            Some(g) => weight_grad(&g, &contiguous(x), &contiguous(grad)),
            None => Self::conv2d_weight_backward(x, weight, grad, options),
        }
    }

    fn bn_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> (
        FloatTensor<Self>,
        FloatTensor<Self>,
        FloatTensor<Self>,
        FloatTensor<Self>,
    ) {
        let Some(l) = layout(&x) else {
            let r = Self::batch_norm_train(x, gamma, beta, epsilon);
            return (r.output, r.mean, r.variance.clone(), r.variance);
        };
        bn_train(l, x, gamma, beta, epsilon, None)
    }

    fn bn_act_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
        ceiling: f64,
    ) -> (
        FloatTensor<Self>,
        FloatTensor<Self>,
        FloatTensor<Self>,
        FloatTensor<Self>,
    ) {
        let Some(l) = layout(&x) else {
            let (out, mean, var, kept) = Self::bn_train(x, gamma, beta, epsilon);
            return (super::activate::<Self>(out, ceiling), mean, var, kept);
        };
        bn_train(l, x, gamma, beta, epsilon, Some(ceiling as f32))
    }

    fn bn_train_grads(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        kept: FloatTensor<Self>,
        epsilon: f64,
        grad: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let Some(l) = layout(&x) else {
            let r = Self::batch_norm_train_backward(x, gamma, mean, kept, epsilon, grad);
            return (r.x_grad, r.gamma_grad, r.beta_grad);
        };
        bn_train_grads(l, [x, gamma, mean, kept, grad], None)
    }

    fn bn_act_train_grads(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        kept: FloatTensor<Self>,
        epsilon: f64,
        out: FloatTensor<Self>,
        ceiling: f64,
        grad: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let Some(l) = layout(&x) else {
            let grad = super::activation_grad::<Self>(out, grad, ceiling);
            return Self::bn_train_grads(x, gamma, mean, kept, epsilon, grad);
        };
        // The activation's mask is recomputed from x (bit for bit the forward's output), which
        // reads one tensor fewer in each pass than reading `out`.
        let beta = contiguous(beta);
        let act = Some((values(&beta), ceiling as f32));
        bn_train_grads(l, [x, gamma, mean, kept, grad], act)
    }

    fn bn_eval(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        var: FloatTensor<Self>,
        epsilon: f64,
    ) -> FloatTensor<Self> {
        let Some(l) = layout(&x) else {
            return Self::batch_norm(x, gamma, beta, mean, var, epsilon);
        };
        bn_eval(l, x, [gamma, beta, mean, var], epsilon, None)
    }

    fn bn_act_eval(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        var: FloatTensor<Self>,
        epsilon: f64,
        ceiling: f64,
    ) -> FloatTensor<Self> {
        let Some(l) = layout(&x) else {
            let out = Self::batch_norm(x, gamma, beta, mean, var, epsilon);
            return super::activate::<Self>(out, ceiling);
        };
        bn_eval(
            l,
            x,
            [gamma, beta, mean, var],
            epsilon,
            Some(ceiling as f32),
        )
    }

    fn silu_op(x: FloatTensor<Self>) -> FloatTensor<Self> {
        if x.dtype() != DType::F32 {
            return super::silu_by_ops::<Self>(x);
        }
        let shape = x.shape();
        let x = contiguous(x);
        let out = silu::forward(values(&x));
        Flex::float_from_data(TensorData::new(out, shape), &Default::default())
    }

    fn silu_grad(x: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        if x.dtype() != DType::F32 || grad.dtype() != DType::F32 {
            return super::silu_grad_by_ops::<Self>(x, grad);
        }
        let shape = x.shape();
        let (x, grad) = (contiguous(x), contiguous(grad));
        let dx = silu::grad(values(&x), values(&grad));
        Flex::float_from_data(TensorData::new(dx, shape), &Default::default())
    }

    fn linear_mm(x: FloatTensor<Self>, w: FloatTensor<Self>) -> FloatTensor<Self> {
        with_packed_weights(|| Self::float_matmul(x, w))
    }

    fn linear_mm_grads(
        x: FloatTensor<Self>,
        w: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        want_x: bool,
        want_w: bool,
    ) -> (Option<FloatTensor<Self>>, Option<FloatTensor<Self>>) {
        with_packed_weights(|| linear_grads(x, w, grad, want_x, want_w))
    }
}

/// Runs `f`, a linear layer's products, with gemm packing its left operand into contiguous
/// panels even when the product has few columns. In its column-major view a linear layer's
/// product on a batch of 32 has 32 columns, and below 8 micro-kernel widths (gemm's default)
/// gemm reads the weight in place, a 16 KB stride per step: an AlexNet or VGG classifier's
/// forward GEMM ran at 26-38 GFLOP/s so and at 65-70 packed (BENCHMARKS.md, "Linear layers").
/// Convolutions are the other way round: their left operand is the column matrix, already in
/// contiguous runs, and packing it too made a forward pass 10-18% slower (16 and 32 channels),
/// so the setting is only on while a linear layer multiplies. gemm's thresholds are global: a
/// convolution on another thread meanwhile may pack too. Packing changes which memory the
/// micro-kernel reads, not the order it adds in, so the floats are the same either way.
fn with_packed_weights<R>(f: impl FnOnce() -> R) -> R {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicUsize, Ordering};
    static DEFAULTS: OnceLock<(usize, usize)> = OnceLock::new();
    static ACTIVE: AtomicUsize = AtomicUsize::new(0);
    let &(single, multi) = DEFAULTS.get_or_init(|| {
        (
            gemm::get_lhs_packing_threshold_single_thread(),
            gemm::get_lhs_packing_threshold_multi_thread(),
        )
    });
    if ACTIVE.fetch_add(1, Ordering::SeqCst) == 0 {
        gemm::set_lhs_packing_threshold_single_thread(1);
        gemm::set_lhs_packing_threshold_multi_thread(1);
    }
    /// Puts gemm's defaults back when the last linear product ends, panicking or not.
    struct Restore(usize, usize);
    impl Drop for Restore {
        fn drop(&mut self) {
            if ACTIVE.fetch_sub(1, Ordering::SeqCst) == 1 {
                gemm::set_lhs_packing_threshold_single_thread(self.0);
                gemm::set_lhs_packing_threshold_multi_thread(self.1);
            }
        }
    }
    let _restore = Restore(single, multi);
    f()
}

/// [`Kernels::linear_mm_grads`] on Flex.
fn linear_grads(
    x: FloatTensor<Flex>,
    w: FloatTensor<Flex>,
    grad: FloatTensor<Flex>,
    want_x: bool,
    want_w: bool,
) -> (Option<FloatTensor<Flex>>, Option<FloatTensor<Flex>>) {
    // dx = dy · wᵀ as (w · dyᵀ)ᵀ: the same products (summed in other blocks), but gemm runs the
    // batch (32 here) along its vector lanes and reads w once, in rows: 85 GFLOP/s on an
    // AlexNet classifier's shape against 43 for dy · wᵀ (BENCHMARKS.md, "Linear layers").
    // One transposing copy of the small [batch, in] result makes it contiguous again. Only
    // for weights past L2 (a million values): a small head keeps burn's product, and with it
    // the floats runs had before.
    let large = w.shape().num_elements() >= 1 << 20;
    let gx = want_x.then(|| match large {
        true => {
            let t = Flex::float_matmul(w.clone(), Flex::float_transpose(grad.clone()));
            contiguous(Flex::float_transpose(t))
        }
        false => super::linear_x_grad_by_ops::<Flex>(w.clone(), grad.clone()),
    });
    let f32_2d = |t: &FloatTensor<Flex>| t.dtype() == DType::F32 && t.shape().num_dims() == 2;
    let gw = want_w.then(|| match large && f32_2d(&x) && f32_2d(&grad) {
        true => linear_weight_grad(x, grad),
        false => super::linear_w_grad_by_ops::<Flex>(x, grad),
    });
    (gx, gw)
}

/// A linear layer's weight gradient xᵀ · dy ([in, out]) by the GEMM burn-flex's matmul makes,
/// written straight into a fresh buffer: burn-flex's output tensor is a zeroed byte vector copied
/// into an aligned one, a second pass over hundreds of megabytes for a VGG classifier's weight.
fn linear_weight_grad(x: FloatTensor<Flex>, dy: FloatTensor<Flex>) -> FloatTensor<Flex> {
    let (x, dy) = (contiguous(x), contiguous(dy));
    let (batch, cin, cout) = (x.shape()[0], x.shape()[1], dy.shape()[1]);
    let mut out = vec![0f32; cin * cout];
    // Split over rows and columns only, never the batch sum: the same floats at any thread count.
    let parallelism = match rayon::current_num_threads() {
        1 => gemm::Parallelism::None,
        _ => gemm::Parallelism::Rayon(0),
    };
    let (xs, dys) = (values(&x), values(&dy));
    // SAFETY: out holds cin × cout values at row stride cout; xᵀ is read as cin × batch from x
    // ([batch, cin], column stride cin) and dy as batch × cout, both in bounds.
    unsafe {
        gemm::gemm(
            cin,
            cout,
            batch,
            out.as_mut_ptr(),
            1,
            cout as isize,
            false,
            xs.as_ptr(),
            cin as isize,
            1,
            dys.as_ptr(),
            1,
            cout as isize,
            0.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
    tensor(out, [cin, cout])
}

/// Fused training batch norm (and activation, with a ceiling) on a batch of layout `l`.
fn bn_train(
    l: norm::Layout,
    x: FloatTensor<Flex>,
    gamma: FloatTensor<Flex>,
    beta: FloatTensor<Flex>,
    epsilon: f64,
    ceiling: Option<f32>,
) -> (
    FloatTensor<Flex>,
    FloatTensor<Flex>,
    FloatTensor<Flex>,
    FloatTensor<Flex>,
) {
    let shape = x.shape();
    let [x, gamma, beta] = [x, gamma, beta].map(contiguous);
    let params = [&gamma, &beta].map(values);
    let (out, mean, var, inv_std) = norm::train(l, values(&x), params, epsilon, ceiling);
    let out = Flex::float_from_data(TensorData::new(out, shape), &Default::default());
    (
        out,
        tensor(mean, [l.c]),
        tensor(var, [l.c]),
        tensor(inv_std, [l.c]),
    )
}

/// The gradients of [`bn_train`] from `[x, gamma, mean, inv_std, dy]` and, when an activation
/// was fused, beta and the ceiling.
fn bn_train_grads(
    l: norm::Layout,
    tensors: [FloatTensor<Flex>; 5],
    act: Option<(&[f32], f32)>,
) -> (FloatTensor<Flex>, FloatTensor<Flex>, FloatTensor<Flex>) {
    let shape = tensors[0].shape();
    let [x, gamma, mean, inv_std, dy] = tensors.map(contiguous);
    let saved = norm::Saved {
        x: values(&x),
        gamma: values(&gamma),
        mean: values(&mean),
        inv_std: values(&inv_std),
        act,
    };
    let (dx, dgamma, dbeta) = norm::train_grads(l, saved, values(&dy));
    let dx = Flex::float_from_data(TensorData::new(dx, shape), &Default::default());
    (dx, tensor(dgamma, [l.c]), tensor(dbeta, [l.c]))
}

/// Batch norm with the statistics of `[gamma, beta, mean, var]` (and an activation).
fn bn_eval(
    l: norm::Layout,
    x: FloatTensor<Flex>,
    stats: [FloatTensor<Flex>; 4],
    epsilon: f64,
    ceiling: Option<f32>,
) -> FloatTensor<Flex> {
    let shape = x.shape();
    let (x, stats) = (contiguous(x), stats.map(contiguous));
    let out = norm::eval(
        l,
        values(&x),
        stats.each_ref().map(values),
        epsilon,
        ceiling,
    );
    Flex::float_from_data(TensorData::new(out, shape), &Default::default())
}
