"""TensorFlow's process-wide graph settings for dlexp; importing this module applies them
(``models`` does, which the Keras path and the stack engine both import).

``dlexp/__init__`` turns TF's oneDNN kernels on (an environment variable TF reads at import).
oneDNN's fused MatMul + BiasAdd + Relu, which Grappler's remapper builds from every Keras
``Dense(activation="relu")`` in a traced function, returns 0 where the input is NaN (Eigen's
returns NaN): a solo run whose first kernel turned NaN then kept a finite loss and was never
marked diverged. Without the remapper the three ops stay separate and NaN propagates as IEEE says.
Measured on 2 cores: no change in speed, neither for Keras' fit (oneDNN on or off) nor for the stacks
(oneDNN on; the 500-wide net x 5 and the 20-layer net x 15).
"""

import tensorflow as tf

tf.config.optimizer.set_experimental_options({"remapping": False})
