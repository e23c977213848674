"""Simulations with a potential: batched relaxation, molecular dynamics, adsorption screening."""

from eqv2.simulate.relax import RelaxResult, relax

__all__ = ["RelaxResult", "relax"]
