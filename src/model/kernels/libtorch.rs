//! [`Kernels`] on LibTorch: forward through tch, backward through `libtorch.cpp` beside this file
//! (tch wraps no backward kernel; build.rs compiles the shim against the libtorch tch links).
#![allow(deprecated)] // burn-tch is deprecated upstream; the `tch` feature is optional

use std::ffi::{CStr, c_char};

use burn::backend::libtorch::{LibTorch, TchTensor};
use burn::backend::ops::{ConvOptions, ModuleOps};
use tch::Tensor;
use torch_sys::C_tensor;

use super::Kernels;

unsafe extern "C" {
    fn sweep_conv2d_backward(
        grad: *const C_tensor,
        input: *const C_tensor,
        weight: *const C_tensor,
        stride: *const i64,
        padding: *const i64,
        dilation: *const i64,
        groups: i64,
        want_input: i32,
        want_weight: i32,
        bias_size: i64,
        grad_input: *mut *mut C_tensor,
        grad_weight: *mut *mut C_tensor,
        grad_bias: *mut *mut C_tensor,
        error: *mut *mut c_char,
    );
    fn sweep_batch_norm_backward(
        grad: *const C_tensor,
        input: *const C_tensor,
        gamma: *const C_tensor,
        mean: *const C_tensor,
        invstd: *const C_tensor,
        eps: f64,
        grad_input: *mut *mut C_tensor,
        grad_gamma: *mut *mut C_tensor,
        grad_beta: *mut *mut C_tensor,
        error: *mut *mut c_char,
    );
}

/// Panics with libtorch's message (its first line: the rest is a C++ backtrace), as burn-tch
/// does on any failed op.
fn check(error: *mut c_char, what: &str) {
    if error.is_null() {
        return;
    }
    // SAFETY: the shim set `error` to a NUL-terminated string from strdup.
    let message = unsafe { CStr::from_ptr(error) }
        .to_string_lossy()
        .into_owned();
    // SAFETY: allocated by strdup (malloc) in the shim and not used after this.
    unsafe { libc_free(error.cast()) };
    let first = message.lines().next().unwrap_or_default();
    panic!("libtorch {what} failed: {first}");
}

unsafe extern "C" {
    #[link_name = "free"]
    fn libc_free(p: *mut std::ffi::c_void);
}

/// A tensor the shim returned (null when not asked for).
fn take(ptr: *mut C_tensor) -> Option<TchTensor> {
    // SAFETY: a non-null pointer from the shim owns a new at::Tensor, released by tch's Drop.
    (!ptr.is_null()).then(|| TchTensor::new(unsafe { Tensor::from_ptr(ptr) }))
}

fn ints(v: [usize; 2]) -> [i64; 2] {
    v.map(|x| x as i64)
}

/// libtorch's convolution backward: the input, weight and (with `bias`, its length) bias
/// gradients that `want` asks for.
fn conv_backward(
    x: &TchTensor,
    w: &TchTensor,
    grad: &TchTensor,
    options: &ConvOptions<2>,
    want: (bool, bool),
    bias: Option<i64>,
) -> (Option<TchTensor>, Option<TchTensor>, Option<TchTensor>) {
    let (stride, padding, dilation) = (
        ints(options.stride),
        ints(options.padding_begin()),
        ints(options.dilation),
    );
    let (mut gx, mut gw, mut gb, mut error) = (
        std::ptr::null_mut(),
        std::ptr::null_mut(),
        std::ptr::null_mut(),
        std::ptr::null_mut(),
    );
    // SAFETY: the tensors are live for the call; the shim writes only the out-pointers.
    unsafe {
        sweep_conv2d_backward(
            grad.tensor.as_ptr(),
            x.tensor.as_ptr(),
            w.tensor.as_ptr(),
            stride.as_ptr(),
            padding.as_ptr(),
            dilation.as_ptr(),
            options.groups as i64,
            want.0 as i32,
            want.1 as i32,
            bias.unwrap_or(-1),
            &mut gx,
            &mut gw,
            &mut gb,
            &mut error,
        )
    };
    check(error, "convolution_backward");
    (take(gx), take(gw), take(gb))
}

impl Kernels for LibTorch {
    fn conv2d_grads(
        x: TchTensor,
        weight: TchTensor,
        grad: TchTensor,
        options: ConvOptions<2>,
    ) -> (TchTensor, TchTensor) {
        // "Same" padding of an even kernel is asymmetric, which libtorch's kernels cannot take.
        if options.is_asymmetric() {
            let gx = LibTorch::conv2d_x_backward(
                x.clone(),
                weight.clone(),
                grad.clone(),
                options.clone(),
            );
            return (
                gx,
                LibTorch::conv2d_weight_backward(x, weight, grad, options),
            );
        }
        match conv_backward(&x, &weight, &grad, &options, (true, true), None) {
            (Some(gx), Some(gw), _) => (gx, gw),
            _ => panic!("libtorch convolution_backward returned no gradient"),
        }
    }

    fn conv2d_x_grad(
        x: TchTensor,
        weight: TchTensor,
        grad: TchTensor,
        options: ConvOptions<2>,
    ) -> TchTensor {
        if options.is_asymmetric() {
            return LibTorch::conv2d_x_backward(x, weight, grad, options);
        }
        let (gx, _, _) = conv_backward(&x, &weight, &grad, &options, (true, false), None);
        gx.expect("libtorch computed the input gradient")
    }

    fn conv2d_weight_grad(
        x: TchTensor,
        weight: TchTensor,
        grad: TchTensor,
        options: ConvOptions<2>,
    ) -> TchTensor {
        if options.is_asymmetric() {
            return LibTorch::conv2d_weight_backward(x, weight, grad, options);
        }
        let (_, gw, _) = conv_backward(&x, &weight, &grad, &options, (false, true), None);
        gw.expect("libtorch computed the weight gradient")
    }

    fn conv2d_biased_grads(
        x: TchTensor,
        weight: TchTensor,
        bias: TchTensor,
        grad: TchTensor,
        options: ConvOptions<2>,
        want_x: bool,
    ) -> (TchTensor, TchTensor, TchTensor) {
        if options.is_asymmetric() {
            let gx = LibTorch::conv2d_x_backward(
                x.clone(),
                weight.clone(),
                grad.clone(),
                options.clone(),
            );
            let gw = LibTorch::conv2d_weight_backward(x.clone(), weight, grad.clone(), options);
            return (gx, gw, LibTorch::conv2d_bias_backward(x, bias, grad));
        }
        let channels = bias.tensor.size()[0];
        match conv_backward(&x, &weight, &grad, &options, (want_x, true), Some(channels)) {
            (gx, Some(gw), Some(gb)) => {
                let empty =
                    || TchTensor::new(Tensor::zeros([0], (tch::Kind::Float, x.tensor.device())));
                (gx.unwrap_or_else(empty), gw, gb)
            }
            _ => panic!("libtorch convolution_backward returned no gradient"),
        }
    }

    fn bn_train(
        x: TchTensor,
        gamma: TchTensor,
        beta: TchTensor,
        epsilon: f64,
    ) -> (TchTensor, TchTensor, TchTensor, TchTensor) {
        let (out, mean, invstd) = x.tensor.native_batch_norm(
            Some(&gamma.tensor),
            Some(&beta.tensor),
            None::<&Tensor>,
            None::<&Tensor>,
            true,
            0.0,
            epsilon,
        );
        // The biased variance, for the running statistics; backward takes invstd itself.
        let var = invstd.pow_tensor_scalar(-2.0) - epsilon;
        (
            TchTensor::new(out),
            TchTensor::new(mean),
            TchTensor::new(var),
            TchTensor::new(invstd),
        )
    }

    fn bn_train_grads(
        x: TchTensor,
        gamma: TchTensor,
        mean: TchTensor,
        invstd: TchTensor,
        epsilon: f64,
        grad: TchTensor,
    ) -> (TchTensor, TchTensor, TchTensor) {
        let (mut gx, mut gg, mut gb, mut error) = (
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        );
        // SAFETY: the tensors are live for the call; the shim writes only the out-pointers.
        unsafe {
            sweep_batch_norm_backward(
                grad.tensor.as_ptr(),
                x.tensor.as_ptr(),
                gamma.tensor.as_ptr(),
                mean.tensor.as_ptr(),
                invstd.tensor.as_ptr(),
                epsilon,
                &mut gx,
                &mut gg,
                &mut gb,
                &mut error,
            )
        };
        check(error, "native_batch_norm_backward");
        match (take(gx), take(gg), take(gb)) {
            (Some(gx), Some(gg), Some(gb)) => (gx, gg, gb),
            _ => panic!("libtorch native_batch_norm_backward returned no gradient"),
        }
    }

    fn bn_eval(
        x: TchTensor,
        gamma: TchTensor,
        beta: TchTensor,
        mean: TchTensor,
        var: TchTensor,
        epsilon: f64,
    ) -> TchTensor {
        TchTensor::new(x.tensor.batch_norm(
            Some(&gamma.tensor),
            Some(&beta.tensor),
            Some(&mean.tensor),
            Some(&var.tensor),
            false,
            0.0,
            epsilon,
            false,
        ))
    }

    fn relu_grad(output: TchTensor, grad: TchTensor) -> TchTensor {
        TchTensor::new(output.tensor.threshold_backward(&grad.tensor, 0.0))
    }
}
