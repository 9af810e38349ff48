// rnnkit fused CPU kernels: the large GEMMs (input projection, weight gradients), instantiated here so
// that the binding does not compile them. Shape legend in common.h; the algorithm in gemm.h.
#include "gemm.h"

namespace rnnkit {

template void matmul<float>(long, long, long, Operand<float>, Operand<float>, float*, long, const float*, bool,
                            int);
template void matmul<double>(long, long, long, Operand<double>, Operand<double>, double*, long, const double*,
                             bool, int);

}  // namespace rnnkit
