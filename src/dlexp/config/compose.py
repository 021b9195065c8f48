"""Compose dlexp's configs with Hydra's public API, outside a Hydra app: the command line's
preflight (every job of a sweep) and ``dlexp reproduce`` (every preset). No TensorFlow.

Hydra's own errors are several lines long; ``hydra_message`` turns them into dlexp's one line
naming the field, the value and what is allowed.
"""

from __future__ import annotations

import difflib
import itertools
import re
from typing import Optional

import yaml

from dlexp.errors import DlexpError

# Hydra plugins that come with an optional extra: a missing one gets its install command in the error.
PLUGIN_EXTRAS = {"hydra/launcher/ray": "ray", "hydra/launcher/ray_aws": "ray", "hydra/launcher/submitit_local": "slurm",
                 "hydra/launcher/submitit_slurm": "slurm", "hydra/sweeper/optuna": "optuna"}


def register_resolvers() -> None:
    """``${dlexp_uid:}`` in folder names; cached, so hydra.run.dir resolves to one folder however
    often it is read."""
    from omegaconf import OmegaConf

    from dlexp.artifacts import unique_id

    if not OmegaConf.has_resolver("dlexp_uid"):
        OmegaConf.register_new_resolver("dlexp_uid", lambda: unique_id(), use_cache=True)


def compose_runs(overrides: list[str], *, config_name: str = "config", multirun: bool = False) -> list:
    """The composed config of every job ``dlexp train [-m] OVERRIDES`` would run (``hydra`` node removed).

    A ``-m`` sweep is expanded as Hydra's basic sweeper does (the product of the comma lists);
    a sweeper with ranges (Optuna) gets its base config checked once.
    """
    from hydra import compose, initialize_config_module
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    register_resolvers()
    try:
        with initialize_config_module("dlexp.conf", version_base="1.3"):
            from hydra.core.global_hydra import GlobalHydra

            # The loader lets sweeps that list config options (glob(...)) expand.
            parser = OverridesParser.create(config_loader=GlobalHydra.instance().config_loader())
            parsed = parser.parse_overrides(overrides)
            check_parsed(parsed)
            # A sweep value under hydra.* (e.g. a search space for a sweeper) configures the sweep, not a run.
            parsed = [o for o in parsed if not (o.is_sweep_override() and o.get_key_element().startswith("hydra."))]
            batches = _sweep_batches(parsed) if multirun else [[o.input_line for o in parsed]]
            try:
                configs = [compose(config_name, batch) for batch in batches]
                _check_preset_header(configs, parsed)
                return configs
            except (HydraException, OmegaConfBaseException) as err:
                base = compose(config_name, [])
                raise DlexpError(unknown_key_message(err, base) or merge_message(err, base) or hydra_message(err)) from None
    except DlexpError:
        raise
    except (HydraException, OmegaConfBaseException) as err:
        raise DlexpError(hydra_message(err)) from None
    except yaml.YAMLError as err:  # a malformed or tagged YAML file of the user's (-cd DIR)
        raise DlexpError(yaml_message(err)) from None


# Top-level keys Hydra's run folder is made of (hydra.run.dir): they cannot be deleted with ~.
REQUIRED_KEYS = ("name", "output_root")


def check_parsed(parsed: list) -> None:
    """Overrides Hydra would answer with a traceback or that would pass its checks and fail later:
    no key (``=5``), a number or list as a group's choice (``trainer=3``), a group or a key the run
    folder needs deleted (``~trainer``, ``~name``)."""
    from hydra.core.override_parser.types import ValueType

    from dlexp.config.presets import conf_dir, group_options

    groups = {p.name for p in conf_dir().iterdir() if p.is_dir() and not p.name.startswith("_")}
    for o in parsed:
        key = o.key_or_group
        if not key:
            raise DlexpError(f"override: got {o.input_line!r}; allowed: KEY=VALUE, e.g. trainer.epochs=5")
        if o.is_delete() and (key in groups or key in REQUIRED_KEYS):
            raise DlexpError(f"{key}: got {o.input_line!r}; allowed: a value for {key} ({key} cannot be removed"
                             f"{'; choose one of: ' + ', '.join(group_options(key)) if key in groups else ''})")
        if key in groups and o.value_type == ValueType.ELEMENT and not isinstance(o.value(), str):
            raise DlexpError(f"{key}: got {o.value()!r}; allowed: one of: {', '.join(group_options(key))}")


def _check_preset_header(configs: list, parsed: list) -> None:
    """A preset (``+exp=NAME``) without ``# @package _global_`` lands under a key ``exp``: name its file."""
    from dlexp.errors import ConfigError

    chosen = [o.value() for o in parsed if o.key_or_group == "exp" and isinstance(o.value(), str)]
    if chosen and any("exp" in cfg for cfg in configs):
        raise ConfigError(f"exp/{chosen[0]}.yaml", "a preset without the '# @package _global_' line",
                          "a preset whose first line is '# @package _global_' (its keys are then top-level keys: "
                          "dataset, model, trainer, ...)", kind="got")


def yaml_message(err: "yaml.YAMLError", path: Optional[str] = None) -> str:
    """One line naming the YAML file and line: "FILE: line 3: found character '\\t' ...; allowed: ..."."""
    mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
    where = path or (mark.name if mark is not None else "a YAML file")
    line = f": line {mark.line + 1}" if mark is not None else ""
    problem = str(getattr(err, "problem", None) or err).splitlines()[0]
    return (f"{where}{line}: got {problem!r}; allowed: valid YAML (indent with spaces, not tabs; "
            "plain values only, no !!python tags)")


def _sweep_batches(parsed: list) -> list[list[str]]:
    if any(o.is_sweep_override() and not o.is_discrete_sweep() for o in parsed):
        return [[o.input_line for o in parsed if not o.is_sweep_override()]]
    choices = []
    for o in parsed:
        if o.is_sweep_override():
            key = o.get_key_element()
            choices.append([f"{key}={value}" for value in o.sweep_string_iterator()])
        else:
            choices.append([o.input_line])
    return [list(batch) for batch in itertools.product(*choices)]


def hydra_message(err: Exception) -> str:
    """Hydra's multi-line errors as one line that names the field and the allowed values."""
    from hydra.errors import MissingConfigException, OverrideParseException

    if isinstance(err, OverrideParseException):
        key, sep, value = err.override.partition("=")
        field = key.lstrip("+~") if sep else "override"
        return (f"{field}: got {(value if sep else err.override)!r}; allowed: a value in Hydra's override grammar "
                f"(quote text with spaces or other characters: {field or 'key'}='...')")

    if isinstance(err, MissingConfigException) and err.missing_cfg_file and "/" not in err.missing_cfg_file:
        return f"--config-name: got {err.missing_cfg_file!r}; allowed: config (or the name of a config of yours in -cd DIR)"
    if isinstance(err, MissingConfigException) and err.missing_cfg_file and "/" in err.missing_cfg_file:
        group, _, choice = err.missing_cfg_file.rpartition("/")
        options = ", ".join(sorted(err.options or [])) or "(none found)"
        extra = PLUGIN_EXTRAS.get(err.missing_cfg_file)
        hint = f' (install it: pip install "dlexp[{extra}]")' if extra else ""
        return f"{group}: got {choice!r}; allowed: {options}{hint}"
    text = str(err)
    for pattern, say in _HYDRA_TEXTS:
        found = re.search(pattern, text, re.DOTALL)
        if found:
            return say(*found.groups())
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    # Whatever Hydra said, the line still ends with what is allowed.
    return ("; ".join(lines) if lines else type(err).__name__) + "; allowed: see `dlexp train --help`"


# Hydra's other messages, as one line naming the field, the value and what is allowed.
_HYDRA_TEXTS = (
    (r"Ambiguous value for argument '([^=]+)=(.*?)'",
     lambda k, v: f"{k}: got {v!r}; allowed: one value (a list: {k}=[a,b]; text with a comma: {k}='a,b'; "
                  f"one run per value: dlexp train -m {k}=a,b)"),
    (r"Multiple values for ([\w./]+)\.",
     lambda k: f"{k}: got more than one value; allowed: one {k}=... per command"),
    (r"Could not append to config\. An item is already at '([^']+)'",
     lambda k: f"+{k}: got a + for a key the config has; allowed: {k}=VALUE (+ adds a key the config does not have)"),
    (r"primary config '([^']+)' must be a DictConfig",
     lambda n: f"--config-name: got {n!r}; allowed: a config file that holds a mapping of keys"),
    (r"In '([^']+)': ConfigTypeError[^\n]*\n?.*Cannot merge DictConfig with ListConfig",
     lambda n: f"{n}.yaml: got a list; allowed: a mapping of config keys (a preset starts with "
               f"'# @package _global_', then keys such as trainer:)"),
)


def unknown_key_message(err: Exception, base) -> Optional[str]:
    """``trainer.epoch=3`` -> name the closest valid key (Hydra suggests ``+trainer.epoch=3``, the wrong fix).
    ``base``: the config composed without overrides."""
    found = re.search(r"Could not override '([^']+)'", str(err))
    if found is None:
        return None
    key = found.group(1)
    keys = _dotted_keys({k: v for k, v in base.items() if k != "hydra"})
    if key in keys:  # it exists: Hydra refused the value, not the key
        return None
    parent = key.rpartition(".")[0]
    siblings = [k for k in keys if k.rpartition(".")[0] == parent]
    close = difflib.get_close_matches(key, siblings or keys, n=1, cutoff=0.6) or difflib.get_close_matches(key, keys, n=1)
    hint = f"did you mean {close[0]}?" if close else "no such key"
    names = ", ".join(k.rpartition(".")[2] for k in siblings)
    allowed = (f"keys of {parent}: {names}" if parent else f"top-level keys: {names}") if siblings else "see dlexp train --cfg job"
    return f"{key}: unknown key ({hint}); allowed: {allowed}"


def merge_message(err: Exception, base) -> Optional[str]:
    """``variants=[1,2]``: Hydra says only "Error merging override"; name the field and its type."""
    from omegaconf import DictConfig, ListConfig, OmegaConf

    found = re.match(r"Error merging override ([^=]+)=(.*)", str(err))
    if found is None:
        return None
    key, value = found.group(1).lstrip("+~"), found.group(2)
    current = OmegaConf.select(base, key, default=None)
    if isinstance(current, DictConfig):
        allowed = "a mapping, e.g. {name: {trainer: {epochs: 5}}}" if key == "variants" else "a mapping"
    elif isinstance(current, ListConfig):
        allowed = "a list, e.g. [1, 2]"
    else:
        allowed = f"a value like the default ({current!r})"
    return f"{key}: got {value!r}; allowed: {allowed}"


def _dotted_keys(node, prefix: str = "") -> list[str]:
    from omegaconf import DictConfig

    out = []
    for k, v in node.items():
        name = f"{prefix}{k}"
        out.append(name)
        if isinstance(v, (dict, DictConfig)):
            out.extend(_dotted_keys(v, name + "."))
    return out
