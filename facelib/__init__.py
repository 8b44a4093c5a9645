"""facelib: occlusion-robust monocular 3D face reconstruction (the library of *Occluded Faces*).

Importing it asks Intel MKL for its conditional numerical reproducibility (``MKL_CBWR=AUTO``, unless
the reader set the variable): without it MKL's float32 matrix products on two threads differ in
the last bits from call to call (:mod:`facelib.reproduce`, DESIGN-NOTES 37). MKL reads the variable
at its first call, so this works when facelib is imported before torch computes anything.
"""

import os as _os

_os.environ.setdefault("MKL_CBWR", "AUTO")
