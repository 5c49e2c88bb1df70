#include <tern/tern.hpp>
#include <iostream>

int main() {  // Fit a ternary projection (extra RMSNorm, int8 activations) to a teacher, with a lambda ramp.
  using T = float;
  using proj = tern::bit_linear<T, tern::absmean_ternary<tern::per_channel>, tern::absmax_int8<>,
                                tern::rms_norm<T, tern::gain::learned>>;
  proj q(64, 32);
  q.weight().value = tern::matrix<T>::Random(32, 64) * 0.1f;
  const tern::matrix<T> teacher = tern::matrix<T>::Random(32, 64), x = tern::matrix<T>::Random(16, 64);
  const tern::matrix<T> target = x * teacher.transpose();
  const tern::linear_warmup schedule(100);  // lambda: 0 (full precision) -> 1 (ternary) over 100 steps
  for (int step = 0; step <= 300; ++step) {
    q.set_lambda(T(schedule.lambda(step, /*layer=*/0)));
    const tern::matrix<T> y = q.forward(x);
    tern::zero_grad(q);
    q.backward((y - target) / T(x.rows()));  // gradient of 0.5 * mean_rows |y - target|^2
    q.for_each_parameter([](std::string_view, tern::parameter<T>& p) { p.value -= 0.02f * p.grad; });
    if (step % 100 == 0) std::cout << "step " << step << "  loss " << 0.5f * (y - target).squaredNorm() / x.rows() << '\n';
  }
  const tern::quantized<T> w = q.quantized_weights();  // int8 codes in {-1, 0, 1} + one scale per row
  std::cout << "ternary weights " << w.codes.rows() << "x" << w.codes.cols() << ", scale[0] " << w.scales(0, 0) << '\n';
}
