"""EquiformerV2 (Liao, Wood, Das, Smidt; arXiv 2306.12059).

Data flow for a `Batch` with N atoms, E edges, G structures, K = (lmax+1)^2, C = sphere_channels:

    edge vectors [E, 3] -> edge frames and Wigner matrices (`EdgeRotation`)
    distances [E] -> Gaussian basis [E, D] (D = distance_gaussians: 600 in the paper)
        (+ element embeddings) = edge scalars
    x [N, K, C] = element embedding at l = 0 + edge-degree embedding
    num_layers x (x += attention(norm(x)); x += ffn(norm(x)))
    x = norm(x)
    energy [G] = sum over atoms of energy_head(x)[:, 0, 0] / avg_num_nodes   (or the mean per atom)
    forces [N, 3] = force_head(x)[:, 1:4, 0]   (the degree-1 coefficients are Cartesian x, y, z)
    stress_isotropic [G, 1], stress_anisotropic [G, 5] = stress_head(x)   (models with a stress head)

The DeNS backbone (``dens_force_encoding``) adds the biases of its force and noise-level encodings to
degree 0 of x before the edge-degree embedding; their inputs are zero outside DeNS training.

Outputs are in the units the network was trained in (normalized); `eqv2.Potential` turns them into
eV, eV/Å and eV/Å^3.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from eqv2.batch import Batch
from eqv2.model_config import EquiformerV2Config, load_preset
from eqv2.nn.activations import S2Grid
from eqv2.nn.atom_edge_embedding import AtomEdgeEmbedding, sizes_with_element_channels
from eqv2.nn.attention import SO2GraphAttention
from eqv2.nn.dropout import EquivariantDropout, GraphDropPath
from eqv2.nn.edges import EdgeChunks
from eqv2.nn.embeddings import EdgeDegreeEmbedding, GaussianBasis, polynomial_envelope
from eqv2.nn.feed_forward import FeedForward
from eqv2.nn.graph_ops import sum_over_targets
from eqv2.nn.linear import RadialMLP, SO3Linear
from eqv2.nn.norms import equivariant_norm
from eqv2.nn.rank2_head import Rank2StressHead
from eqv2.so3.layout import CoefficientLayout


class TransformerBlock(nn.Module):
    """Pre-norm residual block: x + attention(norm(x)), then x + ffn(norm(x)). [N, K, C] -> [N, K, C]."""

    def __init__(
        self, config: EquiformerV2Config, layout: CoefficientLayout, attention_grid: S2Grid, ffn_grid: S2Grid
    ) -> None:
        super().__init__()
        channels = config.sphere_channels
        self.attention_norm = equivariant_norm(config.norm_type, config.lmax, channels)
        self.attention = build_attention(config, layout, attention_grid, channels, config.alpha_drop)
        self.ffn_norm = equivariant_norm(config.norm_type, config.lmax, channels)
        self.ffn = build_feed_forward(config, ffn_grid, channels)
        self.drop_path = GraphDropPath(config.drop_path_rate)
        self.proj_drop = EquivariantDropout(config.proj_drop)

    def forward(self, x: Tensor, atomic_numbers: Tensor, edges: EdgeChunks, graph_index: Tensor) -> Tensor:
        update = self.attention(self.attention_norm(x), atomic_numbers, edges)
        x = x + self.proj_drop(self.drop_path(update, graph_index))
        update = self.ffn(self.ffn_norm(x))
        return x + self.proj_drop(self.drop_path(update, graph_index))


def edge_scalar_sizes(config: EquiformerV2Config) -> list[int]:
    """Input and hidden sizes of the radial MLPs, before per-module element embeddings."""
    sizes = [config.distance_gaussians, config.edge_channels, config.edge_channels]
    if config.share_atom_edge_embedding and config.use_atom_edge_embedding:
        return sizes_with_element_channels(sizes)
    return sizes


def build_attention(
    config: EquiformerV2Config, layout: CoefficientLayout, grid: S2Grid, output_channels: int, alpha_drop: float
) -> SO2GraphAttention:
    return SO2GraphAttention(
        sphere_channels=config.sphere_channels,
        hidden_channels=config.attn_hidden_channels,
        num_heads=config.num_heads,
        alpha_channels=config.attn_alpha_channels,
        value_channels=config.attn_value_channels,
        output_channels=output_channels,
        layout=layout,
        grid=grid,
        max_num_elements=config.max_num_elements,
        edge_scalar_sizes=edge_scalar_sizes(config),
        use_atom_edge_embedding=config.use_atom_edge_embedding and not config.share_atom_edge_embedding,
        use_m_share_rad=config.use_m_share_rad,
        use_attn_renorm=config.use_attn_renorm,
        use_gate_act=config.use_gate_act,
        use_sep_s2_act=config.use_sep_s2_act,
        alpha_drop=alpha_drop,
    )


def build_feed_forward(config: EquiformerV2Config, grid: S2Grid, output_channels: int) -> FeedForward:
    return FeedForward(
        config.sphere_channels,
        config.ffn_hidden_channels,
        output_channels,
        config.lmax,
        grid,
        use_gate_act=config.use_gate_act,
        use_grid_mlp=config.use_grid_mlp,
        use_sep_s2_act=config.use_sep_s2_act,
    )


class EquiformerV2(nn.Module):
    """The EquiformerV2 network. Keyword arguments are those of fairchem's ``equiformer_v2`` model.

    ``forward(batch)`` returns ``{"energy": [G], "node_energy": [N], "forces": [N, 3]}`` (forces only
    with ``regress_forces``), plus ``"stress_isotropic": [G, 1]`` and ``"stress_anisotropic": [G, 5]``
    with ``stress_head``, in normalized training units.
    """

    def __init__(self, **kwargs) -> None:
        super().__init__()
        config = EquiformerV2Config.from_dict(kwargs)
        self.config = config
        self.layout = CoefficientLayout(config.lmax, config.mmax)
        m_major = self.layout.reduced_to_m_major()
        attention_grid = S2Grid(config.lmax, config.mmax, *config.grid_sizes(config.mmax), coefficient_order=m_major)
        ffn_grid = S2Grid(config.lmax, config.lmax, *config.grid_sizes(config.lmax))

        channels = config.sphere_channels
        self.atom_embedding = nn.Embedding(config.max_num_elements, channels)
        self.distance_basis = GaussianBasis(0.0, config.max_radius, config.distance_gaussians, 2.0)
        self.shared_atom_edge_embedding = None
        if config.share_atom_edge_embedding and config.use_atom_edge_embedding:
            self.shared_atom_edge_embedding = AtomEdgeEmbedding(config.max_num_elements, config.edge_channels)
        self.edge_degree_embedding = EdgeDegreeEmbedding(
            channels,
            self.layout,
            config.max_num_elements,
            edge_scalar_sizes(config),
            use_atom_edge_embedding=config.use_atom_edge_embedding and not config.share_atom_edge_embedding,
            rescale=config.degree_rescale,
        )
        self.blocks = nn.ModuleList(
            TransformerBlock(config, self.layout, attention_grid, ffn_grid) for _ in range(config.num_layers)
        )
        self.final_norm = equivariant_norm(config.norm_type, config.lmax, channels)
        self.energy_head = build_feed_forward(config, ffn_grid, 1)
        self.force_head = (
            build_attention(config, self.layout, attention_grid, 1, 0.0) if config.regress_forces else None
        )
        self.force_denoising_head = (
            build_attention(config, self.layout, attention_grid, 1, 0.0) if config.dens_denoising_block else None
        )
        self.stress_head = None
        if config.stress_head:
            self.stress_head = Rank2StressHead(
                channels,
                config.lmax,
                config.norm_type,
                config.stress_use_source_target_embedding,
                config.stress_num_mlp_layers,
            )
        self.force_embedding = SO3Linear(1, channels, config.lmax) if config.dens_force_encoding else None
        self.noise_schedule_sigma_embedding = (
            nn.Linear(1, channels) if config.use_noise_schedule_sigma_encoding else None
        )
        self.energy_lin_ref = None
        if config.load_energy_lin_ref:
            self.energy_lin_ref = nn.Parameter(torch.zeros(config.max_num_elements), requires_grad=False)
        initialize_weights(self, config.weight_init)

    @classmethod
    def from_config(cls, config: EquiformerV2Config | dict) -> EquiformerV2:
        values = config.to_dict() if isinstance(config, EquiformerV2Config) else dict(config)
        return cls(**values)

    @classmethod
    def from_preset(cls, name: str, **overrides) -> EquiformerV2:
        """One of the paper's models: "oc20-31M", "oc20-83M" or "oc20-153M" (see `available_presets`)."""
        return cls(**{**load_preset(name), **overrides})

    def check_atomic_numbers(self, atomic_numbers: Tensor) -> None:
        if atomic_numbers.numel() and (
            atomic_numbers.min() < 1 or atomic_numbers.max() >= self.config.max_num_elements
        ):
            bad = atomic_numbers[(atomic_numbers < 1) | (atomic_numbers >= self.config.max_num_elements)]
            raise ValueError(
                f"atomic number {int(bad[0])} is outside this model's range 1..{self.config.max_num_elements - 1}"
            )

    def forward(self, batch: Batch) -> dict[str, Tensor]:
        atomic_numbers, edge_index = batch.atomic_numbers, batch.edge_index
        self.check_atomic_numbers(atomic_numbers)
        vectors = batch.edge_vectors()  # [E, 3], from target i to source j
        edges = self.edge_chunks(vectors, atomic_numbers, edge_index)

        x = self.node_features(atomic_numbers, edges, batch.graph_index)  # [N, K, C]

        node_energy = self.energy_head(x)[:, 0, 0]
        if self.config.isolated_atom_reference:
            node_energy = node_energy - self.isolated_atom_energy(atomic_numbers, vectors)
        energy = sum_over_targets(node_energy, batch.graph_index, batch.num_graphs) / self.energy_divisor(batch)
        if self.config.use_energy_lin_ref:
            energy = energy + sum_over_targets(self.energy_lin_ref[atomic_numbers], batch.graph_index, batch.num_graphs)
        outputs = {"energy": energy, "node_energy": node_energy}
        if self.force_head is not None:
            forces = self.force_head(x, atomic_numbers, edges)
            outputs["forces"] = forces[:, 1:4, 0]
        if self.stress_head is not None:
            isotropic, anisotropic = self.stress_head(x, vectors, edge_index, batch.graph_index, batch.num_graphs)
            outputs["stress_isotropic"], outputs["stress_anisotropic"] = isotropic, anisotropic
        return outputs

    def node_features(self, atomic_numbers: Tensor, edges: EdgeChunks, graph_index: Tensor) -> Tensor:
        """[N, K, C] node features after the last block's final norm, for atoms [N] and their edges."""
        scalars = self.atom_embedding(atomic_numbers)[:, None]  # [N, 1, C]
        for encoding in (self.force_embedding, self.noise_schedule_sigma_embedding):
            if encoding is not None:
                scalars = scalars + encoding.bias  # DeNS encodings of zero input
        x = torch.cat([scalars, scalars.new_zeros(scalars.shape[0], self.layout.num_full - 1, scalars.shape[2])], 1)
        x = x + self.edge_degree_embedding(atomic_numbers, edges, x)
        for block in self.blocks:
            x = block(x, atomic_numbers, edges, graph_index)
        return self.final_norm(x)

    def isolated_atom_energy(self, atomic_numbers: Tensor, vectors: Tensor) -> Tensor:
        """[N] the energy head's output for a lone atom (no edges) of each atom's element.

        Runs the network once on the distinct elements of ``atomic_numbers`` [N]; ``vectors`` gives
        the dtype and device of the (empty) edges.
        """
        elements, element_of_atom = torch.unique(atomic_numbers, return_inverse=True)
        no_edges = self.edge_chunks(vectors[:0], elements, element_of_atom.new_zeros(2, 0))
        x = self.node_features(elements, no_edges, torch.zeros_like(elements))
        return self.energy_head(x)[:, 0, 0][element_of_atom]

    def edge_chunks(self, vectors: Tensor, atomic_numbers: Tensor, edge_index: Tensor) -> EdgeChunks:
        """The batch's edges in target-aligned chunks (`eqv2.nn.edges`), sized by the attention's
        largest per-edge tensor, the [e, K, 2C] messages."""
        config = self.config

        def edge_features(chunk_vectors: Tensor, chunk_edge_index: Tensor) -> tuple[Tensor, Tensor | None]:
            """Edge scalars [e, D] (distance basis, joined by the shared element embeddings when the model
            has them) and cutoff weights [e] (None without an envelope)."""
            distances = chunk_vectors.norm(dim=-1)
            edge_scalars = self.distance_basis(distances)
            if self.shared_atom_edge_embedding is not None:
                edge_scalars = self.shared_atom_edge_embedding(edge_scalars, atomic_numbers, chunk_edge_index)
            weights = polynomial_envelope(distances / config.max_radius) if config.cutoff_envelope else None
            return edge_scalars, weights

        values_per_edge = 2 * self.layout.num_full * config.sphere_channels
        feature_values = 2 * self.layout.num_reduced * self.layout.num_full + config.distance_gaussians + 1
        return EdgeChunks(
            vectors,
            edge_index,
            atomic_numbers.shape[0],
            self.layout,
            edge_features,
            values_per_edge,
            bytes_per_edge=feature_values * vectors.element_size(),
        )

    def compile_dense_parts(self, **options: Any) -> None:
        """torch.compile (opt-in) the dense per-edge and per-node parts, with dynamic shapes.

        Each attention's per-edge computation (`SO2GraphAttention.compile_dense_parts`: gather, rotation,
        SO(2) convolutions, activation, logits), each feed-forward network's computation on a group of
        nodes (`FeedForward.compile_dense_parts`) and each norm (`nn.Module.compile`) are compiled with
        ``dynamic=True`` unless ``options`` (passed to `torch.compile`) say otherwise, so that a new
        number of atoms or edges reuses the compiled code instead of compiling again. The edge and node
        chunk loops, softmax and scatter sums stay in eager mode. The first call compiles (its time:
        benchmarks/RESULTS.md, section *torch.compile*); outputs equal eager mode to float32 round-off.
        Double backward through compiled code is not supported by PyTorch, so training with conservative
        forces cannot use it.
        """
        options = {"dynamic": True, **options}
        attentions = [block.attention for block in self.blocks]
        attentions += [head for head in (self.force_head, self.force_denoising_head) if head is not None]
        for attention in attentions:
            attention.compile_dense_parts(**options)
        for feed_forward in [self.energy_head] + [block.ffn for block in self.blocks]:
            feed_forward.compile_dense_parts(**options)
        norms = [self.final_norm]
        for block in self.blocks:
            norms += [block.attention_norm, block.ffn_norm]
        for norm in norms:
            norm.compile(**options)

    def energy_divisor(self, batch: Batch) -> Tensor | float:
        """avg_num_nodes for the "sum" reduction, the atom counts [G] for "mean"."""
        if self.config.energy_reduce == "mean":
            return batch.num_atoms.to(batch.positions.dtype)
        return self.config.energy_rescale


def initialize_weights(model: nn.Module, weight_init: str) -> None:
    """EquiformerV2's initialization for training from scratch.

    Linear and SO3 linear layers: zero bias; weights ~ N(0, 1/fan_in) for "normal" (kept for "uniform").
    Layer norms: weight 1, bias 0. Radial MLP linears: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), zero bias.
    """
    for module in model.modules():
        if isinstance(module, (nn.Linear, SO3Linear)):
            if module.bias is not None:
                nn.init.zeros_(module.bias)
            if weight_init == "normal":
                nn.init.normal_(module.weight, std=1.0 / math.sqrt(module.weight.shape[-1]))
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
    for module in model.modules():
        if isinstance(module, RadialMLP):
            for layer in module.net:
                if isinstance(layer, nn.Linear):
                    bound = 1.0 / math.sqrt(layer.in_features)
                    nn.init.uniform_(layer.weight, -bound, bound)
                    nn.init.zeros_(layer.bias)
