"""Adsorbates: eqv2's built-in OC20-like fragments and ASE's g2 molecules, binding atom at the origin.

Shared by the EMT dataset (`eqv2.data.emt`) and AdsorbML-style screening (`eqv2.simulate.adsorbml`)."""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.build import molecule
from ase.collections import g2

from eqv2.validation import DataError

ADSORBATES: dict[str, list[tuple[str, tuple[float, float, float]]]] = {
    # name -> atoms (symbol, position in Å); the first atom binds to the surface
    "H": [("H", (0.0, 0.0, 0.0))],
    "C": [("C", (0.0, 0.0, 0.0))],
    "N": [("N", (0.0, 0.0, 0.0))],
    "O": [("O", (0.0, 0.0, 0.0))],
    "OH": [("O", (0.0, 0.0, 0.0)), ("H", (0.0, 0.0, 0.97))],
    "CO": [("C", (0.0, 0.0, 0.0)), ("O", (0.0, 0.0, 1.15))],
    "NH": [("N", (0.0, 0.0, 0.0)), ("H", (0.0, 0.0, 1.02))],
    "CH": [("C", (0.0, 0.0, 0.0)), ("H", (0.0, 0.0, 1.09))],
    "CH2": [("C", (0.0, 0.0, 0.0)), ("H", (0.89, 0.0, 0.63)), ("H", (-0.89, 0.0, 0.63))],
    "NO": [("N", (0.0, 0.0, 0.0)), ("O", (0.0, 0.0, 1.15))],
    "NH2": [("N", (0.0, 0.0, 0.0)), ("H", (0.80, 0.0, 0.61)), ("H", (-0.80, 0.0, 0.61))],
    "NH3": [("N", (0.0, 0.0, 0.0)), ("H", (0.94, 0.0, 0.38)), ("H", (-0.47, 0.81, 0.38)), ("H", (-0.47, -0.81, 0.38))],
    "CH3": [("C", (0.0, 0.0, 0.0)), ("H", (1.03, 0.0, 0.36)), ("H", (-0.51, 0.89, 0.36)), ("H", (-0.51, -0.89, 0.36))],
    "H2O": [("O", (0.0, 0.0, 0.0)), ("H", (0.76, 0.0, 0.59)), ("H", (-0.76, 0.0, 0.59))],
    "COH": [("C", (0.0, 0.0, 0.0)), ("O", (0.0, 0.0, 1.33)), ("H", (0.91, 0.0, 1.66))],
    "CHO": [("C", (0.0, 0.0, 0.0)), ("H", (0.95, 0.0, 0.55)), ("O", (-1.04, 0.0, 0.60))],
}


def adsorbate_atoms(name: str) -> Atoms:
    """The adsorbate ``name`` (eqv2's built-in ones, or an ASE g2 molecule) with its binding atom at the
    origin and the rest above it."""
    if name in ADSORBATES:
        symbols, positions = zip(*ADSORBATES[name])
        return Atoms(symbols, positions=positions)
    if name not in g2.names:
        raise DataError(f"unknown adsorbate {name!r}: use one of {sorted(ADSORBATES)} or an ASE g2 molecule name")
    gas = molecule(name)
    gas.positions -= gas.positions[0]
    return upright(gas)


def upright(adsorbate: Atoms) -> Atoms:
    """Rotate about the binding atom (at the origin) so the other atoms' centre lies straight above it."""
    if len(adsorbate) > 1:
        centre = adsorbate.positions[1:].mean(axis=0)
        if np.linalg.norm(centre) > 1e-6:
            adsorbate.rotate(centre, (0.0, 0.0, 1.0))
    return adsorbate
