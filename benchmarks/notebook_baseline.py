"""The notebook's training work done the notebook's way, in plain Keras: one model.fit per network.

Same data, architectures, epochs, batch sizes, validation split and early
stopping as the eight exercises (the notebook's Exercises 2 and 3 train nothing; their numpy
work is included). No dlexp code is used here, only its data generators' maths
re-typed, so this is the reference the benchmark compares dlexp against.

--same-work also trains, the same way, the other networks `dlexp reproduce` trains for these
exercises (each distinct network once, as dlexp trains it once): Exercise 1's depth and width
sweeps (Your Turn), Exercise 2's six 10- and 20-layer nets with their first and last hidden
layers' gradient norms at initialization and after training, and Exercise 7's clipnorm and
global_clipnorm variants. That is plain Keras doing the reproduction's training; dlexp's layer
diagnostics, probes for every layer and report are still not done here.

    python benchmarks/notebook_baseline.py [--same-work] [SEED]   # seconds per exercise and the total
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np


def spiral(n_samples=1000, n_classes=3, noise=0.2):
    np.random.seed(42)
    n = n_samples // n_classes
    xs, ys = [], []
    for k in range(n_classes):
        theta = np.linspace(0, 4 * np.pi, n) + (k * 2 * np.pi / n_classes)
        radius = np.linspace(0, 1, n)
        xs.append(np.column_stack([radius * np.cos(theta) + np.random.randn(n) * noise,
                                   radius * np.sin(theta) + np.random.randn(n) * noise]))
        ys.append(np.full(n, k))
    return np.vstack(xs), np.hstack(ys)


def moons_circles():
    from sklearn.datasets import make_circles, make_moons
    from sklearn.preprocessing import StandardScaler

    x1, y1 = make_moons(n_samples=500, noise=0.15, random_state=42)
    x2, y2 = make_circles(n_samples=500, noise=0.1, factor=0.5, random_state=42)
    x = StandardScaler().fit_transform(np.vstack([x1, x2 * 2 + 2]))
    return x, np.hstack([y1, y2 + 2])


def run(seed: int = 42, same_work: bool = False) -> tuple[dict[str, float], int]:
    """Seconds per exercise, and the number of ``model.fit`` calls made."""
    import keras
    from keras import layers
    from sklearn.model_selection import train_test_split

    keras.utils.set_random_seed(seed)
    times: dict[str, float] = {}
    fits = 0

    def fit(model, x, y, epochs, callbacks=(), loss="sparse_categorical_crossentropy", optimizer="adam"):
        nonlocal fits
        fits += 1
        model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"])
        return model.fit(x, y, epochs=epochs, batch_size=32, validation_split=0.2, verbose=0, callbacks=list(callbacks))

    def mlp(sizes, n_in, n_out, act="relu", **kw):
        model = keras.Sequential([keras.Input((n_in,))])
        for s in sizes:
            model.add(layers.Dense(s, activation=act, **kw))
        model.add(layers.Dense(n_out, activation="softmax" if n_out > 1 else "sigmoid"))
        return model

    # Exercise 1
    t = time.perf_counter()
    x, y = spiral()
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.2, random_state=42, stratify=y)
    # The sweeps' 3x100 net (depth 3, width 100) is the deep net above: trained once, as dlexp does.
    sweeps = [[100] * 2, [100] * 4, [100] * 5, [50] * 3, [200] * 3, [500] * 3] if same_work else []
    for sizes in [[1000], [100, 100, 100]] + sweeps:
        m = mlp(sizes, 2, 3)
        fit(m, xtr, ytr, 50)
        m.evaluate(xte, yte, verbose=0)
    times["shallow_vs_deep"] = time.perf_counter() - t

    # Exercises 2 and 3: numpy only (and, with --same-work, Exercise 2's real nets)
    t = time.perf_counter()
    xs = np.linspace(-5, 5, 1000)
    sig = 1 / (1 + np.exp(-xs))
    _ = [np.max(sig * (1 - sig)), np.max(1 - np.tanh(xs) ** 2)]
    for d in (lambda z: (1 / (1 + np.exp(-z))) * (1 - 1 / (1 + np.exp(-z))), lambda z: 1 - np.tanh(z) ** 2,
              lambda z: float(z > 0)):
        np.array([[np.prod([d(np.random.randn()) for _ in range(20)])] for _ in range(100)])
    if same_work:  # the real nets: gradient norms of the first and last hidden layer before and after training
        import tensorflow as tf

        def grad_norms(model):
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(ytr, model(xtr.astype("float32"))))
            grads = tape.gradient(loss, model.trainable_variables)
            return float(tf.norm(grads[0])), float(tf.norm(grads[-4]))

        for depth in (10, 20):
            for act in ("sigmoid", "tanh", "relu"):
                m = mlp([64] * depth, 2, 3, act=act)
                grad_norms(m)
                fit(m, xtr, ytr, 20)
                grad_norms(m)
                m.evaluate(xte, yte, verbose=0)
    times["vanishing_gradients+modern_activations"] = time.perf_counter() - t

    # Exercise 4
    t = time.perf_counter()
    x, y = moons_circles()
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.2, random_state=42, stratify=y)
    for act in ("relu", "elu", "selu", "swish", "gelu"):
        m = keras.Sequential([keras.Input((2,))])
        for s in (128, 64, 32):
            m.add(layers.Dense(s, activation=act))
            m.add(layers.BatchNormalization())
            m.add(layers.Dropout(0.3))
        m.add(layers.Dense(4, activation="softmax"))
        fit(m, xtr, ytr, 50, [keras.callbacks.EarlyStopping(patience=10, restore_best_weights=True)])
        m.evaluate(xte, yte, verbose=0)
    times["activation_comparison"] = time.perf_counter() - t

    # Exercise 5 (the notebook samples 500 of 200 test points and crashes; use all 200)
    t = time.perf_counter()
    from sklearn.manifold import TSNE

    inp = keras.Input((2,))
    h, outs = inp, []
    for s in (128, 64, 32):
        h = layers.BatchNormalization()(layers.Dense(s, activation="relu")(h))
        outs.append(h)
    m = keras.Model(inp, layers.Dense(4, activation="softmax")(h))
    fit(m, xtr, ytr, 30)
    m.evaluate(xte, yte, verbose=0)
    for o in outs:
        rep = keras.Model(inp, o).predict(xte, verbose=0)
        TSNE(n_components=2, random_state=42, perplexity=30).fit_transform(rep)
    times["representations"] = time.perf_counter() - t

    # Exercise 6, with the notebook's weight-based dead-neuron callback
    t = time.perf_counter()

    class DeadReLU(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            for layer in self.model.layers:
                if isinstance(layer, layers.Dense) and layer.activation.__name__ == "relu":
                    np.sum(np.max(layer.get_weights()[0], axis=0) <= 0)

    for init in ("zeros", keras.initializers.RandomNormal(0, 0.5), "he_normal", "glorot_uniform"):
        m = mlp([256, 128, 64], 2, 4, kernel_initializer=init)
        fit(m, xtr, ytr, 20, [DeadReLU()])
        m.evaluate(xte, yte, verbose=0)
    times["dead_relu"] = time.perf_counter() - t

    # Exercise 7
    t = time.perf_counter()
    np.random.seed(42)
    xu, yu = np.random.randn(1000, 10) * 10, np.random.randint(0, 2, 1000)
    xtr_u, xte_u, ytr_u, yte_u = train_test_split(xu, yu, test_size=0.2, random_state=42)
    clips = [{}, {"clipvalue": 1.0}] + ([{"clipnorm": 1.0}, {"global_clipnorm": 1.0}] if same_work else [])
    for clip in clips:
        m = mlp([128] * 4, 10, 1, act="tanh")
        fit(m, xtr_u, ytr_u, 50, loss="binary_crossentropy", optimizer=keras.optimizers.Adam(**clip))
    times["gradient_clipping"] = time.perf_counter() - t

    # Exercise 8
    t = time.perf_counter()
    for bn, dropout in ((False, False), (True, False), (False, True), (True, True)):
        m = keras.Sequential([keras.Input((2,))])
        for s in (256, 128, 64, 32):
            m.add(layers.Dense(s))
            if bn:
                m.add(layers.BatchNormalization())
            m.add(layers.Activation("relu"))
            if dropout:
                m.add(layers.Dropout(0.3))
        m.add(layers.Dense(4, activation="softmax"))
        fit(m, xtr, ytr, 50, [keras.callbacks.EarlyStopping(patience=10, restore_best_weights=True)],
            optimizer=keras.optimizers.Adam(learning_rate=0.001))
        m.evaluate(xte, yte, verbose=0)
    times["batch_norm"] = time.perf_counter() - t
    return times, fits


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("seed", type=int, nargs="?", default=42)
    parser.add_argument("--same-work", action="store_true",
                        help="also train the other networks dlexp reproduce trains (W)")
    opts = parser.parse_args()
    start = time.perf_counter()
    import keras  # noqa: F401  (import cost counted in the total, as a notebook pays it once)

    times, fits = run(opts.seed, same_work=opts.same_work)
    for name, sec in times.items():
        print(f"{name:40s} {sec:7.1f} s")
    print(f"fits {fits}")  # bench_reproduce.py reads this line
    print(f"{'total (including TF import)':40s} {time.perf_counter() - start:7.1f} s")
