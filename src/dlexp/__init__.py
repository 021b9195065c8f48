"""dlexp: the 'From shallow to deep networks' notebook as reproducible, configurable experiments."""

__version__ = "0.1.0"
