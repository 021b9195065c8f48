"""Exercises that need no training: activation curves and derivatives, the gradient-flow simulation."""
