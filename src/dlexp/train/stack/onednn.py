"""oneDNN's batched matmul, put in the graph by hand where TF would run Eigen's.

Stacks that train beside others run on TF's single-threaded executor (``stack.executor_for``),
which keeps the epoch's ``tf.while_loop`` as one functional op. TF's oneDNN graph rewrite
(BatchMatMulV2 -> _MklBatchMatMulV2) never sees the loop's body there, so every layer's matmul,
forward and backward, ran Eigen's kernel, which this TF build compiles without AVX2/FMA/AVX-512
("rebuild TensorFlow with the appropriate compiler flags"). oneDNN picks its AVX-512 code at run
time. Measured (a while loop of 1,000 steps of one layer's matmul + its gradient, one thread per
op, single-threaded executor, CPU-s): (M=4, 32 rows, 256 x 128) 0.54 -> 0.28; (4, 32, 128 x 128)
0.29 -> 0.15; (3, 32, 64 x 64) 0.078 -> 0.039; (6, 32, 64 x 64) 0.158 -> 0.065; (1, 32, 100 x 100)
0.046 -> 0.037; as fast as the default executor's rewrite. oneDNN's fixed cost per call (~3 us
more: a 32 x 1 output layer 0.010 -> 0.018 over its 3,000 calls) loses on small layers: (1, 32,
64 x 64) 0.020 -> 0.023, any layer with 1 unit or 2 inputs, hence ``worth_it``.

The op is TF's own (the one the rewrite produces, with its kernel label), so the numbers are
oneDNN's as in a Keras fit on the default executor. Private API: ``available`` probes it once
(registered, oneDNN enabled: ``TF_ENABLE_ONEDNN_OPTS=0`` turns it off, computes a known product
and its gradient) and callers fall back to ``tf.linalg.matmul`` when it is not there.
"""

from __future__ import annotations

import functools
import threading

import numpy as np
import tensorflow as tf

from dlexp.nn import tf_runtime

OP = "_MklBatchMatMulV2"
_LABEL = b"MklNameChangeOp"  # the kernel label the oneDNN rewrite gives the ops it renames
_PROBING = threading.Lock()  # the training lanes may ask at once: one probe, one gradient registration


def worth_it(members: int, fan_in: int, units: int) -> bool:
    """Whether oneDNN beats Eigen for a (members, rows, fan_in) x (members, fan_in, units) product
    (measured, module docstring): batched with both sides >= 16, or one member from ~10k weights."""
    return min(fan_in, units) >= 16 and (members > 1 or fan_in * units >= 10_000)


def batch_matmul(x: tf.Tensor, y: tf.Tensor, adj_x: bool = False, adj_y: bool = False) -> tf.Tensor:
    """``tf.linalg.matmul(x, y, adjoint_a=adj_x, adjoint_b=adj_y)`` on oneDNN's kernel, for equal
    batch shapes. Graph mode only (inside a tf.function, not XLA-compiled). Differentiable (the
    gradient below). Check ``available()`` first."""
    from tensorflow.core.framework import attr_value_pb2
    from tensorflow.python.eager import execute
    from tensorflow.python.framework import op_def_library

    if x.shape[:-2] != y.shape[:-2]:  # the gradient below does not reduce broadcast batch axes
        raise ValueError(f"onednn.batch_matmul: batch shapes must be equal, got {x.shape} and {y.shape}")
    _, _, op, _ = op_def_library._apply_op_helper(  # noqa: SLF001 - no public way to make an internal op
        OP, name="OneDnnBatchMatMul", x=x, y=y, adj_x=adj_x, adj_y=adj_y, grad_x=False, grad_y=False)
    op._set_attr("_kernel", attr_value_pb2.AttrValue(s=_LABEL))  # noqa: SLF001
    execute.record_gradient(OP, op.inputs, ("T", op.get_attr("T"), "adj_x", adj_x, "adj_y", adj_y), op.outputs)
    return op.outputs[0]


def _gradient(op, grad):
    """BatchMatMulV2's gradient (tensorflow/python/ops/math_grad.py) for equal batch shapes,
    without the inputs the tape does not need (``skip_input_indices``)."""
    x, y = op.inputs
    adj_x, adj_y = op.get_attr("adj_x"), op.get_attr("adj_y")
    skip = getattr(op, "skip_input_indices", None) or ()
    # (first operand, second, adj_x, adj_y) of each input's gradient, per (adj_x, adj_y) of op
    gx, gy = {(False, False): ((grad, y, False, True), (x, grad, True, False)),
              (False, True): ((grad, y, False, False), (grad, x, True, False)),
              (True, False): ((y, grad, False, True), (x, grad, False, False)),
              (True, True): ((y, grad, True, True), (grad, x, True, True))}[(adj_x, adj_y)]
    return (None if 0 in skip else batch_matmul(*gx)), (None if 1 in skip else batch_matmul(*gy))


def available() -> bool:
    """True if ``batch_matmul`` runs here: TF has the op and oneDNN on, and a probe under the
    stacks' call options (``tf_runtime.single_threaded_calls``) gets a known product and gradient. Once per process (~20 ms)."""
    with _PROBING:
        return _available()


@functools.cache
def _available() -> bool:
    try:
        from tensorflow.python.framework import op_def_registry, ops
        from tensorflow.python.util import _pywrap_util_port

        if not _pywrap_util_port.IsMklEnabled() or op_def_registry.get(OP) is None:
            return False
        try:
            ops.RegisterGradient(OP)(_gradient)
        except KeyError:  # registered already (this module imported twice)
            pass
        return _probe()
    except Exception:  # noqa: BLE001 - any failure means: use TF's own matmul
        return False


def _probe() -> bool:
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, 3, 4), np.float32), rng.standard_normal((2, 4, 5), np.float32)

    @tf.function(autograph=False)
    def product_and_grads(x, y):
        with tf.GradientTape() as tape:
            tape.watch([x, y])
            z = batch_matmul(x, y)
            total = tf.reduce_sum(z * z)
        return (z, *tape.gradient(total, [x, y]))

    with tf_runtime.single_threaded_calls():  # as the stacks call it
        z, gx, gy = (t.numpy() for t in product_and_grads(tf.constant(a), tf.constant(b)))
    want = a @ b
    return (np.allclose(z, want, rtol=1e-4, atol=1e-5) and np.allclose(gx, 2 * want @ b.transpose(0, 2, 1), rtol=1e-4, atol=1e-4)
            and np.allclose(gy, 2 * a.transpose(0, 2, 1) @ want, rtol=1e-4, atol=1e-4))
