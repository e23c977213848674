"""Checkpoint files: every format eqv2 reads, translated into the same parts, and eqv2's own format.

- `eqv2.checkpoints.loading`: `load` (any format) and the choice of the format of a file;
- `eqv2.checkpoints.parts`: `CheckpointParts`, what every format is read into, and `build_potential`;
- `eqv2.checkpoints.native`: eqv2's format (reading it, `save`);
- `eqv2.checkpoints.fairchem`, `eqv2.checkpoints.hydra`: fairchem-core 1.x files (old format, hydra).
"""
