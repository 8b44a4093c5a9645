import time

import torch

from facelib.fitting import fit
from facelib.metrics import psnr
from facelib.render import Renderer
from facelib.sampling import random_coefficients


def test_fitting_recovers_a_rendered_target_from_a_random_start(ict):
    torch.manual_seed(0)
    renderer = Renderer(ict, 128, background=0.5)
    g = torch.Generator().manual_seed(7)
    target_coeffs = random_coefficients(ict, 1, g, pose_degrees=(10, 25, 8))
    start = random_coefficients(ict, 1, g, pose_degrees=(10, 25, 8))
    with torch.no_grad():
        target = renderer(target_coeffs)
        before = renderer(start)
    t0 = time.process_time()  # CPU seconds of this process: a training beside it does not inflate them
    result = fit(renderer, target.image, target.landmarks, start, steps=1200, w_reg=1e-5)
    seconds = time.process_time() - t0
    with torch.no_grad():
        after = renderer(result.coeffs)
    lm_error = (after.landmarks - target.landmarks).norm(dim=-1).mean().item()
    quality = psnr(after.image, target.image, target.mask).item()
    start_error = (before.landmarks - target.landmarks).norm(dim=-1).mean().item()
    assert start_error > 5  # the start really is far away
    assert lm_error < 1.0, lm_error
    assert quality > 30.0, quality
    assert seconds < 120, seconds  # the chapter's 60 s on two cores, counted in CPU seconds
    assert result.history[-1]["total"] < 0.05 * result.history[0]["total"]
    exp = ict.layout.split(result.coeffs)["exp"]
    assert exp.min() >= 0.0 and exp.max() <= 1.0  # blendshape weights stay in their declared range
