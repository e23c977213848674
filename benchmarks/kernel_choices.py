"""Two exact alternatives to eqv2's per-edge kernels, timed against them on the shapes of two models.

    python -m benchmarks.kernel_choices [--device cpu|cuda] [--threads 1] [--repeats 20]

- Rotations: eqv2 rotates with one dense product per edge, [E, R, K] @ [E, K, C], although the Wigner
  matrix is block-diagonal in the degree l (at lmax 4, mmax 2: 115 of its 475 entries are non-zero).
  The alternative does one product per degree, [E, rows_l, 2l+1] @ [E, 2l+1, C], and reorders the rows.
- SO(2) maps of orders m > 0: eqv2 multiplies (W_r + i W_i)(x_+ + i x_-) with Gauss's three real
  products (`eqv2.nn.so2_convolution.ScaledComplexMultiply`). The alternative is one product with the
  block matrix [[W_r, -W_i], [W_i, W_r]] (4/3 the arithmetic in one larger product).

Shapes: the demo model (configs/demo.yaml: lmax 2, 32 channels, a batch of 8 slabs, 8,778 edges) and
oc20-31M (lmax 4, mmax 2, one 38-atom slab, 641 edges per chunk). "fwd" is without autograd, "train"
forward and backward. Prints milliseconds (median of --repeats after a warm-up call,
`benchmarks.speed.median_seconds`) and eqv2 / alternative (above 1: the alternative is faster). Both compute
the same function (the largest difference is printed).
"""

from __future__ import annotations

import argparse

import torch
from torch import Tensor

from benchmarks.speed import median_seconds
from eqv2.nn.so2_convolution import ScaledComplexMultiply
from eqv2.so3.layout import CoefficientLayout
from eqv2.so3.rotation import EdgeRotation

# (model, lmax, mmax, edges, channels of the messages rotated into the edge frames)
ROTATION_CASES = (("demo", 2, 2, 8778, 64), ("oc20-31M", 4, 2, 641, 256))
# (model and product, edges, inner size Q = degrees * input channels, output size P)
SO2_CASES = (
    ("demo, conv_in m=1", 8778, 128, 64),
    ("demo, conv_in m=2", 8778, 64, 32),
    ("demo, conv_out m=1", 8778, 64, 64),
    ("oc20-31M, conv_in m=1", 641, 1024, 256),
    ("oc20-31M, conv_in m=2", 641, 768, 192),
    ("oc20-31M, conv_out m=1", 641, 256, 512),
)


def per_degree_blocks(rotation: EdgeRotation, layout: CoefficientLayout) -> list[Tensor]:
    """[E, rows_l, 2l+1] of each degree l: the non-zero blocks of ``rotation.to_edge``, rows l-major."""
    l_major = rotation.to_edge[:, layout.m_major_to_reduced().to(rotation.to_edge.device)]
    blocks, row = [], 0
    for l in range(layout.lmax + 1):
        rows = 2 * min(l, layout.mmax) + 1
        blocks.append(l_major[:, row : row + rows, l * l : (l + 1) ** 2].contiguous())
        row += rows
    return blocks


ROTATION_HEADER = (
    "| rotation into edge frames | eqv2 dense fwd ms | per-degree fwd ms | ratio "
    "| eqv2 train ms | per-degree train ms | ratio | max difference |"
)


def rotation_row(model: str, lmax: int, mmax: int, num_edges: int, channels: int, repeats: int, device: str) -> str:
    """One table row: eqv2's dense rotation against one product per degree."""
    layout = CoefficientLayout(lmax, mmax)
    torch.manual_seed(0)
    rotation = EdgeRotation(torch.randn(num_edges, 3, device=device), layout)
    blocks = per_degree_blocks(rotation, layout)
    to_m_major = layout.reduced_to_m_major().to(device)
    x = torch.randn(num_edges, layout.num_full, channels, device=device, requires_grad=True)
    grad = torch.randn(num_edges, layout.num_reduced, channels, device=device)

    def per_degree() -> Tensor:
        pieces = [torch.bmm(block, x[:, l * l : (l + 1) ** 2]) for l, block in enumerate(blocks)]
        return torch.cat(pieces, dim=1)[:, to_m_major]

    with torch.no_grad():
        difference = (rotation.rotate(x) - per_degree()).abs().max().item()
        dense_fwd = 1e3 * median_seconds(lambda: rotation.rotate(x), repeats, device)
        blocks_fwd = 1e3 * median_seconds(per_degree, repeats, device)
    dense_train = 1e3 * median_seconds(lambda: rotation.rotate(x).backward(grad), repeats, device)
    blocks_train = 1e3 * median_seconds(lambda: per_degree().backward(grad), repeats, device)
    return (
        f"| {model}: [{num_edges}, {layout.num_reduced}, {layout.num_full}] @ [.., {channels}] | {dense_fwd:.2f} | "
        f"{blocks_fwd:.2f} | {dense_fwd / blocks_fwd:.2f} | {dense_train:.2f} | {blocks_train:.2f} | "
        f"{dense_train / blocks_train:.2f} | {difference:.1e} |"
    )


def block_complex_multiply(weight: Tensor, x: Tensor, scale: Tensor) -> Tensor:
    """[E, 2, P] = one product of (x * scale) [E, 2 Q] with [[W_r, -W_i], [W_i, W_r]]; weight [2 P, Q]."""
    real, imaginary = weight.chunk(2, dim=0)
    block = torch.cat([torch.cat([real, -imaginary], dim=1), torch.cat([imaginary, real], dim=1)], dim=0)
    scaled = (x * scale[:, None]).reshape(x.shape[0], -1)
    return (scaled @ block.T).view(x.shape[0], 2, -1)


def gauss_complex_multiply(weight: Tensor, x: Tensor, scale: Tensor) -> Tensor:
    """The same with eqv2's three-product form."""
    plus, minus = ScaledComplexMultiply.apply(weight, x[:, 0], x[:, 1], scale)
    return torch.stack([plus, minus], dim=1)


SO2_HEADER = (
    "| SO(2) map, order m > 0 | eqv2 Gauss fwd ms | block fwd ms | ratio "
    "| eqv2 train ms | block train ms | ratio | max difference |"
)


def so2_row(name: str, num_edges: int, inner: int, outer: int, repeats: int, device: str) -> str:
    """One table row: eqv2's three-product complex multiplication against one block product."""
    torch.manual_seed(0)
    weight = (torch.randn(2 * outer, inner, device=device) / inner**0.5).requires_grad_()
    x = torch.randn(num_edges, 2, inner, device=device, requires_grad=True)
    scale = torch.randn(num_edges, inner, device=device, requires_grad=True)
    grad = torch.randn(num_edges, 2, outer, device=device)

    def gauss() -> Tensor:
        return gauss_complex_multiply(weight, x, scale)

    def block() -> Tensor:
        return block_complex_multiply(weight, x, scale)

    with torch.no_grad():
        difference = (gauss() - block()).abs().max().item()
        gauss_fwd = 1e3 * median_seconds(gauss, repeats, device)
        block_fwd = 1e3 * median_seconds(block, repeats, device)
    gauss_train = 1e3 * median_seconds(lambda: gauss().backward(grad), repeats, device)
    block_train = 1e3 * median_seconds(lambda: block().backward(grad), repeats, device)
    return (
        f"| {name}: [{num_edges}, {inner}] -> {outer} | {gauss_fwd:.2f} | {block_fwd:.2f} | "
        f"{gauss_fwd / block_fwd:.2f} | {gauss_train:.2f} | {block_train:.2f} | {gauss_train / block_train:.2f} | "
        f"{difference:.1e} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    print(f"device {args.device}, {threads} threads, torch {torch.__version__}, median of {args.repeats}\n")
    print(ROTATION_HEADER)
    print("| --- " * 8 + "|")
    for model, lmax, mmax, num_edges, channels in ROTATION_CASES:
        print(rotation_row(model, lmax, mmax, num_edges, channels, args.repeats, args.device), flush=True)
    print("\n" + SO2_HEADER)
    print("| --- " * 8 + "|")
    for name, num_edges, inner, outer in SO2_CASES:
        print(so2_row(name, num_edges, inner, outer, args.repeats, args.device), flush=True)


if __name__ == "__main__":
    main()
