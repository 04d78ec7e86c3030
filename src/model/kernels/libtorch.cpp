// libtorch's native backward kernels, which tch does not wrap, for src/model/kernels/libtorch.rs.
// Tensors cross as `at::Tensor*` (tch's C_tensor); an exception comes back as a malloc'ed
// message in *error (the caller frees it), never across the C boundary.
#include <ATen/ATen.h>
#include <cstdlib>
#include <cstring>

namespace {
void fail(char** error, const std::exception& e) {
  *error = strdup(e.what());
}
at::Tensor* keep(const at::Tensor& t) {
  return t.defined() ? new at::Tensor(t) : nullptr;
}
}  // namespace

extern "C" {

// at::convolution_backward for a 2-D convolution: want_* say which of the input and weight
// gradients to compute (the others come back null); bias_size >= 0 asks for the gradient of a
// bias of that length too.
void sweep_conv2d_backward(const at::Tensor* grad, const at::Tensor* input,
                           const at::Tensor* weight, const int64_t* stride,
                           const int64_t* padding, const int64_t* dilation, int64_t groups,
                           int want_input, int want_weight, int64_t bias_size,
                           at::Tensor** grad_input, at::Tensor** grad_weight,
                           at::Tensor** grad_bias, char** error) {
  try {
    int64_t no_output_padding[2] = {0, 0};
    at::OptionalIntArrayRef bias_sizes = std::nullopt;
    if (bias_size >= 0) bias_sizes = at::IntArrayRef(&bias_size, 1);
    auto r = at::convolution_backward(
        *grad, *input, *weight, bias_sizes, at::IntArrayRef(stride, 2),
        at::IntArrayRef(padding, 2), at::IntArrayRef(dilation, 2), false,
        at::IntArrayRef(no_output_padding, 2), groups,
        {want_input != 0, want_weight != 0, bias_size >= 0});
    *grad_input = keep(std::get<0>(r));
    *grad_weight = keep(std::get<1>(r));
    *grad_bias = keep(std::get<2>(r));
  } catch (const std::exception& e) {
    fail(error, e);
  }
}

// at::native_batch_norm_backward in training mode, from the batch mean and inverse standard
// deviation native_batch_norm saved.
void sweep_batch_norm_backward(const at::Tensor* grad, const at::Tensor* input,
                               const at::Tensor* gamma, const at::Tensor* mean,
                               const at::Tensor* invstd, double eps, at::Tensor** grad_input,
                               at::Tensor** grad_gamma, at::Tensor** grad_beta, char** error) {
  try {
    auto r = at::native_batch_norm_backward(*grad, *input, *gamma, std::nullopt, std::nullopt,
                                            *mean, *invstd, true, eps, {true, true, true});
    *grad_input = keep(std::get<0>(r));
    *grad_gamma = keep(std::get<1>(r));
    *grad_beta = keep(std::get<2>(r));
  } catch (const std::exception& e) {
    fail(error, e);
  }
}
}
