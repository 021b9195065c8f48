"""The notebook's training work done the notebook's way, in plain Keras: one model.fit per network.

Same data, architectures, epochs, batch sizes, validation split and early
stopping as the eight exercises (Exercises 2 and 3 train nothing; their numpy
work is included). No dlexp code is used here, only its data generators' maths
re-typed, so this is the reference the benchmark compares dlexp against.

    python benchmarks/notebook_baseline.py            # prints seconds per exercise and the total
"""

from __future__ import annotations

import os
import sys
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


def run(seed: int = 42) -> dict[str, float]:
    import keras
    from keras import layers
    from sklearn.model_selection import train_test_split

    keras.utils.set_random_seed(seed)
    times: dict[str, float] = {}

    def fit(model, x, y, epochs, callbacks=(), loss="sparse_categorical_crossentropy", optimizer="adam"):
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
    for sizes in ([1000], [100, 100, 100]):
        m = mlp(sizes, 2, 3)
        fit(m, xtr, ytr, 50)
        m.evaluate(xte, yte, verbose=0)
    times["shallow_vs_deep"] = time.perf_counter() - t

    # Exercises 2 and 3: numpy only
    t = time.perf_counter()
    xs = np.linspace(-5, 5, 1000)
    sig = 1 / (1 + np.exp(-xs))
    _ = [np.max(sig * (1 - sig)), np.max(1 - np.tanh(xs) ** 2)]
    for d in (lambda z: (1 / (1 + np.exp(-z))) * (1 - 1 / (1 + np.exp(-z))), lambda z: 1 - np.tanh(z) ** 2,
              lambda z: float(z > 0)):
        np.array([[np.prod([d(np.random.randn()) for _ in range(20)])] for _ in range(100)])
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
    for clip in (None, 1.0):
        m = mlp([128] * 4, 10, 1, act="tanh")
        opt = keras.optimizers.Adam(clipvalue=clip) if clip else keras.optimizers.Adam()
        fit(m, xtr_u, ytr_u, 50, loss="binary_crossentropy", optimizer=opt)
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
    return times


if __name__ == "__main__":
    start = time.perf_counter()
    import keras  # noqa: F401  (import cost counted in the total, as a notebook pays it once)

    times = run(int(sys.argv[1]) if len(sys.argv) > 1 else 42)
    for name, sec in times.items():
        print(f"{name:40s} {sec:7.1f} s")
    print(f"{'total (including TF import)':40s} {time.perf_counter() - start:7.1f} s")
