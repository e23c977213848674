"""Screening at scale: ``eqv2 predict``, ``eqv2 relax`` and ``eqv2 adsorbml`` over files of many
structures, in one process or many under torchrun.

- `eqv2.screening.run`: chunks, sharding over ranks, resume and the merge (`run_screening`);
- `eqv2.screening.records`: result files that grow one whole record at a time;
- `eqv2.screening.tasks`: what each command computes for a chunk of inputs.

Batches are packed by `eqv2.simulate.packing`; relaxations keep their batch full with
`eqv2.simulate.relax.RelaxationStream`.
"""
