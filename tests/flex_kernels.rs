//! burn-flex's Rust kernels (`model::kernels`' Flex implementation) against burn's own ops, on
//! every convolution shape of every registered backbone (and the batch norm after it): each op
//! within 1e-5 of burn's, relative to the largest magnitude of its result.

use burn::backend::Flex;
use burn::backend::TensorMetadata;
use burn::backend::ops::{ActivationOps, ConvOptions, FloatTensorOps, ModuleOps};
use burn::backend::tensor::FloatTensor;
use burn::tensor::{Device, Distribution, Tensor, TensorData};
use sweep::model::kernels::{self, ConvCall, Kernels};
use sweep::model::{self, BACKBONES};
use sweep::spec::schema::ModelSpec;

type T = FloatTensor<Flex>;

/// Deterministic values in [-1, 1).
fn values(n: usize, salt: usize) -> Vec<f32> {
    (0..n)
        .map(|i| (((i * 7919 + salt * 104729) % 2003) as f32 / 1001.0) - 1.0)
        .collect()
}

fn tensor(shape: &[usize], salt: usize) -> T {
    let n = shape.iter().product();
    Flex::float_from_data(TensorData::new(values(n, salt), shape), &Default::default())
}

fn flat(t: &T) -> Vec<f32> {
    t.to_contiguous().as_slice::<f32>().unwrap().to_vec()
}

/// Fails unless `ours` equals `stock` within 1e-5 of `stock`'s largest magnitude.
fn close(stock: &T, ours: &T, what: &str) {
    assert_eq!(stock.shape(), ours.shape(), "{what}: shape");
    let (a, b) = (flat(stock), flat(ours));
    let scale = a.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-30);
    let worst = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max);
    assert!(
        worst <= 1e-5 * scale,
        "{what}: differs by {worst:e} of {scale:e}"
    );
}

/// Every convolution the backbones make on a batch of 3 (so chunks of several images and a
/// shorter last chunk occur), at 32×32 (64×64 where the architecture needs it).
fn backbone_calls() -> Vec<(String, ConvCall)> {
    let device = Device::flex();
    let mut calls: Vec<(String, ConvCall)> = Vec::new();
    for b in BACKBONES {
        let size = b.min_input.max(32);
        let spec = ModelSpec {
            backbone: b.name.into(),
            width: 16,
            stages: 3,
            blocks: 1,
            input_size: size,
            ..ModelSpec::default()
        };
        let net = model::build(&spec, 3, 10, 0, &device);
        let x = Tensor::<4>::random([3, 3, size, size], Distribution::Default, &device);
        let (_, made) = kernels::record(|| net.forward(x, None).into_data());
        assert!(!made.is_empty(), "{} makes no convolution", b.name);
        for call in made {
            if !calls.iter().any(|(_, c)| *c == call) {
                calls.push((b.name.to_string(), call));
            }
        }
    }
    calls
}

fn check_conv(name: &str, call: &ConvCall) {
    let what = format!("{name} {call:?}");
    let o: ConvOptions<2> = call.options.clone();
    let (x, w) = (tensor(&call.x, 1), tensor(&call.weight, 2));
    let stock = Flex::conv2d(x.clone(), w.clone(), None, o.clone());
    let ours = <Flex as Kernels>::conv2d_nobias(x.clone(), w.clone(), o.clone());
    close(&stock, &ours, &format!("forward of {what}"));
    let co = call.weight[0];
    let bias = tensor(&[co], 3);
    let stock_b = Flex::conv2d(x.clone(), w.clone(), Some(bias.clone()), o.clone());
    let ours_b = <Flex as Kernels>::conv2d_biased(x.clone(), w.clone(), bias.clone(), o.clone());
    close(&stock_b, &ours_b, &format!("biased forward of {what}"));

    let dy = tensor(&stock.shape().dims::<4>(), 4);
    let gx = Flex::conv2d_x_backward(x.clone(), w.clone(), dy.clone(), o.clone());
    let gw = Flex::conv2d_weight_backward(x.clone(), w.clone(), dy.clone(), o.clone());
    let gb = Flex::conv2d_bias_backward(x.clone(), bias.clone(), dy.clone());
    let (ox, ow) = <Flex as Kernels>::conv2d_grads(x.clone(), w.clone(), dy.clone(), o.clone());
    close(&gx, &ox, &format!("input gradient of {what}"));
    close(&gw, &ow, &format!("weight gradient of {what}"));
    let one = <Flex as Kernels>::conv2d_x_grad(x.clone(), w.clone(), dy.clone(), o.clone());
    close(&gx, &one, &format!("input gradient alone of {what}"));
    let one = <Flex as Kernels>::conv2d_weight_grad(x.clone(), w.clone(), dy.clone(), o.clone());
    close(&gw, &one, &format!("weight gradient alone of {what}"));
    let (bx, bw, bb) = <Flex as Kernels>::conv2d_biased_grads(x, w, bias, dy, o, true);
    close(&gx, &bx, &format!("biased input gradient of {what}"));
    close(&gw, &bw, &format!("biased weight gradient of {what}"));
    close(&gb, &bb, &format!("bias gradient of {what}"));

    // The batch norm that follows the convolution, on its output's shape.
    let y = tensor(&stock.shape().dims::<4>(), 5);
    let (gamma, beta) = (tensor(&[co], 6), tensor(&[co], 7));
    let r = Flex::batch_norm_train(y.clone(), gamma.clone(), beta.clone(), 1e-5);
    let (out, mean, var, kept) =
        <Flex as Kernels>::bn_train(y.clone(), gamma.clone(), beta.clone(), 1e-5);
    close(&r.output, &out, &format!("batch norm after {what}"));
    close(&r.mean, &mean, &format!("batch mean after {what}"));
    close(&r.variance, &var, &format!("batch variance after {what}"));
    let g = tensor(&stock.shape().dims::<4>(), 8);
    let s = Flex::batch_norm_train_backward(
        y.clone(),
        gamma.clone(),
        r.mean.clone(),
        r.variance.clone(),
        1e-5,
        g.clone(),
    );
    let (dx, dgamma, dbeta) =
        <Flex as Kernels>::bn_train_grads(y.clone(), gamma.clone(), mean, kept, 1e-5, g.clone());
    close(
        &s.x_grad,
        &dx,
        &format!("batch norm input gradient after {what}"),
    );
    close(
        &s.gamma_grad,
        &dgamma,
        &format!("gamma gradient after {what}"),
    );
    close(&s.beta_grad, &dbeta, &format!("beta gradient after {what}"));

    // With ReLU (an infinite ceiling) and a clamp at 0.5 (ReLU6's kind) fused into it: the
    // stock output clamped, and the stock backward of the gradient masked where ours clamped.
    for ceiling in [f64::INFINITY, 0.5] {
        let (out, mean, _, kept) =
            <Flex as Kernels>::bn_act_train(y.clone(), gamma.clone(), beta.clone(), 1e-5, ceiling);
        let stock_out = match ceiling.is_finite() {
            true => Flex::float_clamp(r.output.clone(), 0f32.into(), (ceiling as f32).into()),
            false => Flex::relu(r.output.clone()),
        };
        close(
            &stock_out,
            &out,
            &format!("batch norm to {ceiling} after {what}"),
        );
        let headroom =
            Flex::float_add_scalar(Flex::float_neg(out.clone()), (ceiling as f32).into());
        let masked = Flex::relu_backward(out.clone(), g.clone());
        let masked = match ceiling.is_finite() {
            true => Flex::relu_backward(headroom, masked),
            false => masked,
        };
        let s = Flex::batch_norm_train_backward(
            y.clone(),
            gamma.clone(),
            r.mean.clone(),
            r.variance.clone(),
            1e-5,
            masked,
        );
        let (dx, dgamma, dbeta) = <Flex as Kernels>::bn_act_train_grads(
            y.clone(),
            gamma.clone(),
            beta.clone(),
            mean,
            kept,
            1e-5,
            out,
            ceiling,
            g.clone(),
        );
        let what = format!("batch norm to {ceiling} after {what}");
        close(&s.x_grad, &dx, &format!("input gradient of {what}"));
        close(&s.gamma_grad, &dgamma, &format!("gamma gradient of {what}"));
        close(&s.beta_grad, &dbeta, &format!("beta gradient of {what}"));
    }
}

#[test]
fn flex_kernels_agree_with_burns_ops_on_every_backbones_shapes() {
    let calls = backbone_calls();
    // Every kind of fast path occurs: 3x3 stride 1 and 2, 1x1, strided 1x1, depthwise, large
    // kernels (the 7x7 stems).
    let has = |f: &dyn Fn(&ConvCall) -> bool| calls.iter().any(|(_, c)| f(c));
    assert!(has(&|c| c.weight[2] == 3 && c.options.stride == [1, 1]));
    assert!(has(&|c| c.weight[2] == 3 && c.options.stride == [2, 2]));
    assert!(has(&|c| c.weight[2] == 1 && c.options.stride == [1, 1]));
    assert!(has(&|c| c.weight[2] == 1 && c.options.stride == [2, 2]));
    assert!(has(&|c| c.options.groups > 1 && c.weight[1] == 1));
    assert!(has(&|c| c.weight[2] >= 7));
    for (name, call) in &calls {
        check_conv(name, call);
    }
}

#[test]
fn batch_norm_in_eval_mode_agrees_with_burns() {
    for shape in [[3, 8, 5, 5], [2, 16, 1, 1], [4, 3, 17, 9]] {
        let c = shape[1];
        let x = tensor(&shape, 1);
        let [gamma, beta, mean] = [2, 3, 4].map(|s| tensor(&[c], s));
        let var = Flex::float_add_scalar(Flex::float_abs(tensor(&[c], 5)), 0.5.into());
        let stock = Flex::batch_norm(
            x.clone(),
            gamma.clone(),
            beta.clone(),
            mean.clone(),
            var.clone(),
            1e-3,
        );
        let ours = <Flex as Kernels>::bn_eval(x, gamma, beta, mean, var, 1e-3);
        close(&stock, &ours, &format!("eval batch norm on {shape:?}"));
    }
}

/// Shapes no backbone makes at the sizes above: images multiplied tile by tile (64 channels of
/// 40×40 and 64×64, stride 1 and 2), odd sizes with padding wider than a stride (5×5, stride 2,
/// padding 2 on 11×13), a 2×2 stride-3 kernel that skips columns, a 3×3 kernel without padding,
/// and a batch of 19 for batch norm.
#[test]
fn flex_kernels_agree_with_burns_ops_on_tiled_and_uneven_shapes() {
    let call = |x: [usize; 4], weight: [usize; 4], stride: usize, padding: usize| ConvCall {
        x,
        weight,
        options: ConvOptions::new([stride, stride], [padding, padding], [1, 1], 1),
    };
    let calls = [
        call([1, 64, 40, 40], [8, 64, 3, 3], 1, 1),
        call([2, 64, 64, 64], [4, 64, 3, 3], 2, 1),
        call([3, 6, 11, 13], [5, 6, 5, 5], 2, 2),
        call([2, 4, 10, 11], [3, 4, 2, 2], 3, 0),
        call([2, 5, 7, 9], [4, 5, 3, 3], 1, 0),
        // 19 images: batch norm's backward adds up its planes' sums 8 at a time, so two whole
        // groups and a part of one; 5×7 planes end after two chunks of 16.
        call([19, 3, 5, 7], [4, 3, 3, 3], 1, 1),
    ];
    for c in &calls {
        check_conv("hand-made", c);
    }
}
