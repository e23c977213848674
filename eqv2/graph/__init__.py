"""Periodic radius graphs and the rules for ties at ``max_neighbors``.

- `eqv2.graph.neighbors`: `radius_graph` for any cell, the neighbour modes (`NEIGHBOR_MODES`);
- `eqv2.graph.reference_strict`: the reference's strict selection, reproduced edge for edge.
"""
