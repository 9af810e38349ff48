"""torch.nn.LSTM under CPU bf16 autocast where this CPU's oneDNN cannot run it.

torch's CPU LSTM (no projection) runs oneDNN's bf16 LSTM under autocast. Where oneDNN has one for the CPU
(AVX-512 BF16, AMX: e.g. AMD Zen 4) it returns everything in bfloat16, but for a packed input everything
in the input's float32 (recorded with torch 2.13 on AMD Zen 4). Where it has none (e.g. AMD Zen 3, AVX2
only) torch raises "could not create a primitive descriptor" instead, so the tests that follow torch.nn
compare with this record there. With a projection torch never uses oneDNN and always runs.
"""

from __future__ import annotations

import torch

BF16, F32 = torch.bfloat16, torch.float32
#: input kind -> (output dtype, state dtypes) of torch.nn.LSTM under CPU bf16 autocast (float32 layer)
TORCH_LSTM_BF16 = {
    "padded": (BF16, (BF16, BF16)),
    "unbatched": (BF16, (BF16, BF16)),
    "packed": (F32, (F32, F32)),
    "other": (F32, (F32, F32)),  # an input of another dtype (float16): the weights' float32
}


def onednn_bf16_missing(err: BaseException) -> bool:
    """Whether ``err`` is torch's oneDNN refusing a bf16 LSTM on this CPU."""
    return isinstance(err, RuntimeError) and "could not create a primitive descriptor" in str(err)
