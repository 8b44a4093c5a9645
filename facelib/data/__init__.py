"""Face sets: the synthetic benchmark (:mod:`.synthetic`) and the common on-disk format and torch
datasets (:mod:`.folder`); real sets are converted into the same format by ``data_scripts``."""
