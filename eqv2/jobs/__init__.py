"""Jobs over files: ``eqv2 predict``, ``eqv2 relax`` and ``eqv2 adsorbml`` on files of many structures,
streamed, resumable after a kill and sharded over torchrun processes. (AdsorbML's own search, what
``eqv2 adsorbml`` computes per system, is `eqv2.simulate.adsorbml`.)

- `eqv2.jobs.run`: chunks, sharding over ranks, resume and the merge (`run_job`);
- `eqv2.jobs.records`: result files that grow one whole record at a time;
- `eqv2.jobs.tasks`: what each command computes for a chunk of inputs.

Batches are packed by `eqv2.simulate.packing`; relaxations keep their batch full with
`eqv2.simulate.relax.RelaxationStream`.
"""
