"""``to_tensor``: PIL image / HWC uint8 array → CHW float in [0, 1]."""

import numpy as np
import torch


def to_tensor(pic):
    arr = np.asarray(pic)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    t = torch.from_numpy(arr.copy()).permute(2, 0, 1).contiguous()
    return t.float().div(255) if t.dtype == torch.uint8 else t.float()
