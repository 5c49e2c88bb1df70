// Uses tern through its umbrella header: a ternary projection with the extra RMSNorm.
#include <tern/tern.hpp>

#include <cstdio>

int main() {
  tern::bit_linear<float> proj(8, 4);
  proj.weight().value = tern::matrix<float>::Random(4, 8);
  const tern::matrix<float> x = tern::matrix<float>::Random(3, 8);
  const tern::matrix<float> y = proj.forward(x);
  const auto q = proj.quantized_weights();
  const bool ok = y.rows() == 3 && y.cols() == 4 && y.allFinite() && q.codes.cwiseAbs().maxCoeff() <= 1;
  std::printf("consumer: y is %ldx%ld, %s\n", long(y.rows()), long(y.cols()), ok ? "ok" : "WRONG");
  return ok ? 0 : 1;
}
