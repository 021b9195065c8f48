"""dlexp: the 'From shallow to deep networks' notebook as reproducible, configurable experiments."""

import os

__version__ = "0.1.0"

# TensorFlow reads this once, when it is imported; dlexp imports TensorFlow only after this
# package. TF turns its oneDNN kernels on by default only on some Intel CPUs; on this project's
# AMD EPYC machines they are off, and turning them on made `dlexp reproduce` of the eight
# exercises at 5 seeds 134 s instead of 148 s (fit_stack of the 500-wide net x 5 without XLA:
# 41.8 -> 24.4 s). setdefault: TF_ENABLE_ONEDNN_OPTS=0 in the environment still turns them off.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
