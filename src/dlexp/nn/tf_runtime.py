"""TensorFlow's process-wide graph settings for dlexp; importing this module applies them
(``models`` does, which the Keras path and the stack engine both import).

``dlexp/__init__`` turns TF's oneDNN kernels on (an environment variable TF reads at import).
oneDNN's fused MatMul + BiasAdd + Relu, which Grappler's remapper builds from every Keras
``Dense(activation="relu")`` in a traced function, returns 0 where the input is NaN (Eigen's
returns NaN): a solo run whose first kernel turned NaN then kept a finite loss and was never
marked diverged. Without the remapper the three ops stay separate and NaN propagates as IEEE says.
Turning the remapper off does not slow training, neither Keras' fit nor the stacks.
"""

import os

import tensorflow as tf

tf.config.optimizer.set_experimental_options({"remapping": False})


def one_thread_per_op() -> bool:
    """Run each TF op on one thread, for when several stacks train at once (``runner.execute_tasks``'
    lanes); True if the setting was made.

    TF's default gives every op all cores. Our ops are small, so extra threads mostly spin-wait for
    work, burning the CPU the other lanes and the background thread need, which in a reproduction
    that keeps every core busy becomes wall time.
    The setting is process-wide and only possible before TF runs its first op; a user's
    TF_NUM_INTRAOP_THREADS wins. It moves the last float bits: TF splits some reductions by thread
    count, so a stack trained beside others (one thread per op) and the same stack trained alone
    (TF's default) differ in float32's last significant digits; with either setting, reruns are
    bit-identical.
    """
    if os.environ.get("TF_NUM_INTRAOP_THREADS"):
        return False
    try:
        tf.config.threading.set_intra_op_parallelism_threads(1)
    except RuntimeError:  # TF already ran an op in this process: its pool is made
        return False
    return True
