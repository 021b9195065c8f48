"""Exercises that need no training: activation curves and derivatives, the gradient-flow simulation.

NumPy, pandas and matplotlib only; importing this package never imports TensorFlow.

Modules: ``activation_fns`` (NumPy activations, derivatives, registry, tables),
``gradient_flow`` (the seeded simulation and its tables), ``figures`` (matplotlib
Figures) and ``exercises`` (the two entry points the report calls).
"""

from dlexp.notebook.analysis.exercises import AnalysisResult, modern_activations_analysis, vanishing_gradients_analysis

__all__ = ["AnalysisResult", "modern_activations_analysis", "vanishing_gradients_analysis"]
