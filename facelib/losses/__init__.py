"""Every loss term of the book, one function each; every docstring cites the paper and equation.

One module per paper — :mod:`.deep3d` (R-Net's terms, used by every method), :mod:`.mofa`,
:mod:`.orn`, :mod:`.rogue` — all re-exported here, so ``from facelib import losses; losses.landmark_loss`` works
for any of them; :mod:`.focus` (whose generic names would clash) is used as ``losses.focus``. The
contour-guided method adds its own module.
"""

from . import focus
from .deep3d import (
    DEEP3D_LANDMARK_WEIGHT,
    DEEP3D_LANDMARK_WEIGHTED,
    coefficient_regularizer,
    deep3d_landmark_weights,
    gamma_loss,
    identity_loss,
    landmark_loss,
    photometric_loss,
    reflectance_loss,
)
from .mofa import gaussian_photometric_loss
from .orn import (
    absolute_error_loss,
    closest_label_index,
    label_loss,
    multi_occlusion_perceptual_loss,
    select_label,
    squared_error_loss,
)
from .rogue import adversarial_consistency_loss, guidance_regularizer, resistive_photometric_loss, robust_objective

__all__ = [
    "focus",
    "DEEP3D_LANDMARK_WEIGHT", "DEEP3D_LANDMARK_WEIGHTED", "absolute_error_loss", "adversarial_consistency_loss",
    "closest_label_index", "guidance_regularizer", "resistive_photometric_loss", "robust_objective",
    "coefficient_regularizer", "deep3d_landmark_weights", "gamma_loss", "gaussian_photometric_loss",
    "identity_loss", "label_loss", "landmark_loss", "multi_occlusion_perceptual_loss", "photometric_loss",
    "reflectance_loss", "select_label", "squared_error_loss",
]
