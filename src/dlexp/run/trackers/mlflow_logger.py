"""MLflow: one MLflow run per dlexp run, in a local SQLite store unless the config names a server."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from dlexp.report.stats import finite_or_none
from dlexp.run.trackers.common import EPOCH_SCALARS, epochs_done, layer_scalars_by_epoch


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}, "c": [1, 2]} -> {"a.b": 1, "c": [1, 2]} (lists stay whole)."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(flatten(v, f"{prefix}{k}."))
        return out if out or not prefix else {prefix[:-1]: "{}"}
    return {prefix[:-1]: value}


def default_tracking_uri(output_root: str) -> str:
    return f"sqlite:///{Path(output_root).resolve() / 'mlflow.db'}"


def mlflow_run_name(folder: Path, root: Path) -> str:
    """A run's MLflow name: in a ``-m`` sweep, its path under the sweep folder, i.e. the job folder's name
    (``0_activation=elu``, plus ``/<variant>/seed_<n>`` in a preset's job), the name TensorBoard shows for it
    with ``--logdir <sweep>``; otherwise its path under the output root (``default/<stamp>``).

    A sweep job is the nearest folder with Hydra's ``.hydra/hydra.yaml`` saying ``mode: MULTIRUN``.
    """
    folder = Path(folder)
    for job in [folder, *folder.parents][:4]:  # job / variant / seed_n at most
        hydra_yaml = job / ".hydra" / "hydra.yaml"
        if hydra_yaml.is_file():
            try:
                multirun = "mode: MULTIRUN" in hydra_yaml.read_text(encoding="utf-8")
            except OSError:
                multirun = False
            if multirun:
                return folder.relative_to(job.parent).as_posix()
            break
    try:
        return folder.relative_to(root).as_posix()
    except ValueError:
        return folder.name


_CLIENTS: dict[str, Any] = {}


def _mlflow_client(uri: str):
    """One client per tracking URI and process (a SQLite store checks its schema when created)."""
    if uri not in _CLIENTS:
        import logging

        from mlflow.tracking import MlflowClient

        for name in ("mlflow", "alembic"):  # schema creation logs at INFO on every new store
            logging.getLogger(name).setLevel(logging.WARNING)
        _CLIENTS[uri] = MlflowClient(tracking_uri=uri)
    return _CLIENTS[uri]


MLFLOW_STATUS = {"completed": "FINISHED", "diverged": "FINISHED", "interrupted": "KILLED"}


class MlflowLogger:
    """One MLflow run per dlexp run, addressed by its run id (no global active run: safe in sweeps and workers).

    Params: the run config flattened to dotted keys. Metrics: per epoch with
    step = epoch (layer metrics as ``dead_fraction/layer_1`` ...). At finish:
    test metrics, the status tag, and the run folder's plots, CSVs,
    summary.json and config.yaml as artifacts.
    """

    def __init__(self) -> None:
        self.client = None
        self.run_id: Optional[str] = None

    def start(self, spec, folder, config) -> None:
        import time

        from filelock import FileLock
        from mlflow.entities import Param

        lc = spec.logger
        root = Path(spec.output_root).resolve()
        uri = lc.mlflow_uri or default_tracking_uri(spec.output_root)
        name = lc.mlflow_experiment or spec.name
        folder = Path(folder).resolve()
        local_store = lc.mlflow_uri is None
        if local_store:
            root.mkdir(parents=True, exist_ok=True)
        # Parallel jobs (joblib, Ray, submitit) share one store: creating the SQLite schema and the
        # experiment must happen once, so it is done under a lock next to the database.
        lock = FileLock(str(root / ".mlflow.lock")) if local_store else None
        if lock is not None:
            lock.acquire(timeout=120)
        try:
            self.client = client = _mlflow_client(uri)
            experiment = client.get_experiment_by_name(name)
            if experiment is None:
                location = (root / "mlartifacts" / name).as_uri() if local_store else None
                experiment_id = client.create_experiment(name, artifact_location=location)
            else:
                experiment_id = experiment.experiment_id
        finally:
            if lock is not None:
                lock.release()
        previous = self._previous_run(experiment_id, folder) if epochs_done(folder) else None
        if previous is not None:  # a resumed run continues its MLflow run: one metric history
            self.run_id = previous
            client.update_run(previous, status="RUNNING")
            client.set_tag(previous, "status", "running")
            return
        run_name = mlflow_run_name(folder, root)
        tags = {"variant": spec.variant, "seed": str(spec.seed), "status": "running",
                "dlexp.name": spec.name, "dlexp.folder": str(folder)}
        run = client.create_run(experiment_id, start_time=int(time.time() * 1000), tags=tags, run_name=run_name)
        self.run_id = run.info.run_id
        params = [Param(k, str(v)[:6000]) for k, v in sorted(flatten(config).items())]
        for i in range(0, len(params), 100):  # MLflow takes at most 100 params per batch
            client.log_batch(self.run_id, params=params[i:i + 100])

    def _previous_run(self, experiment_id: str, folder: Path) -> Optional[str]:
        if "'" in str(folder):
            return None  # cannot be quoted in a filter string; start a new run instead
        runs = self.client.search_runs([experiment_id], filter_string=f"tags.`dlexp.folder` = '{folder}'",
                                       order_by=["attributes.start_time DESC"], max_results=1)
        return runs[0].info.run_id if runs else None

    def _metrics(self, step: int, values: dict[str, Any]) -> None:
        import time

        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        finite = {k: finite_or_none(v) for k, v in values.items()}
        metrics = [Metric(k, v, now, int(step)) for k, v in finite.items() if v is not None]
        if metrics:  # one batch per epoch: one SQLite transaction instead of one per metric
            self.client.log_batch(self.run_id, metrics=metrics)

    def epoch(self, row) -> None:
        if self.run_id is not None:
            self._metrics(row["epoch"], {k: row.get(k) for k in EPOCH_SCALARS})

    def layers(self, rows) -> None:
        if self.run_id is None:
            return
        for step, values in layer_scalars_by_epoch(rows).items():
            self._metrics(step, values)

    def histograms(self, epoch, arrays) -> None:
        pass  # TensorBoard's job

    def finish(self, summary, folder) -> None:
        if self.run_id is None:
            return
        client, run_id, folder = self.client, self.run_id, Path(folder)
        status = summary.get("status", "failed")
        try:
            self._metrics(summary.get("epochs_run") or 0, {k: summary.get(k) for k in ("test_loss", "test_accuracy")})
            client.set_tag(run_id, "status", status)
            for path in sorted(folder.glob("*.csv")) + [folder / "summary.json", folder / "config.yaml",
                                                         folder / "error.txt"]:
                if path.is_file():
                    client.log_artifact(run_id, str(path))
            if (folder / "plots").is_dir() and any((folder / "plots").iterdir()):
                client.log_artifacts(run_id, str(folder / "plots"), artifact_path="plots")
        finally:
            client.set_terminated(run_id, status=MLFLOW_STATUS.get(status, "FAILED"))
            self.run_id = None
