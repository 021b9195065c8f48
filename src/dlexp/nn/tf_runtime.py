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

import os

import tensorflow as tf

tf.config.optimizer.set_experimental_options({"remapping": False})


def one_thread_per_op() -> bool:
    """Run each TF op on one thread, for when several stacks train at once (``runner.execute_tasks``'
    lanes); True if the setting was made.

    TF's default gives every op both cores. Our ops are small, so a second thread mostly spin-waits
    for work, burning the core the other lane and the background thread need: alone, the 500-wide
    net x 5 took 15-17 s either way but 25-28 CPU-s with two threads, 21-22 with one. In a
    reproduction, which keeps both cores busy, the wasted CPU is wall time (measured, eight
    exercises, alternated runs: 5 seeds 110 / 101 s -> 93 / 84 s, 1 seed 50 / 54 s -> 39 / 41 s).
    The setting is process-wide and only possible before TF runs its first op; a user's
    TF_NUM_INTRAOP_THREADS wins. It moves the last float bits: TF splits some reductions by thread
    count, so a stack trained beside others (one thread per op) and the same stack trained alone
    (TF's default) differ in the 7th significant digit (checked: a loss of 1.0839346647 vs
    1.0839345455 after 3 epochs); with either setting, reruns are bit-identical.
    """
    if os.environ.get("TF_NUM_INTRAOP_THREADS"):
        return False
    try:
        tf.config.threading.set_intra_op_parallelism_threads(1)
    except RuntimeError:  # TF already ran an op in this process: its pool is made
        return False
    return True
