"""The training loop: `train(config, run_dir, resume)`.

One optimizer step = ``grad_accumulation`` micro-batches of ``batch_size`` structures on each rank.
Loss terms are sums divided by counts summed over ranks (`eqv2.train.losses`), so a run on W ranks
follows the same loss as one process with a W times larger batch. Every ``eval_every`` steps the EMA
weights are validated, a row goes to metrics.csv and TensorBoard, and ``last.pt`` (and ``best.pt`` on
a new best validation force MAE) are written atomically by rank 0.

Checkpoints are eqv2-format files (EMA weights under ``state_dict``, so `eqv2.load` reads them) with
the training state beside them under ``training``: raw weights, optimizer, EMA, RNG state, data
position, step, best score and the config. Resuming restores all of it, so on CPU a resumed run
reaches the weights of an uninterrupted one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import torch
from ase.data import chemical_symbols
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from eqv2 import runtime
from eqv2.batch import Batch
from eqv2.checkpoints.loading import load, read_checkpoint_file
from eqv2.checkpoints.native import checkpoint_dict, save_atomically
from eqv2.potential import Potential
from eqv2.progress import progress_bar
from eqv2.train.config import ConfigError, TrainConfig, config_to_yaml
from eqv2.train.ema import ExponentialMovingAverage
from eqv2.train.logbook import Logbook, log_line
from eqv2.train.losses import loss_terms
from eqv2.train.metrics import Predictions, compute_metrics, predict_dataset
from eqv2.train.sampler import BalancedBatches, Position
from eqv2.train.schedule import learning_rate
from eqv2.train.setup import (
    build_optimizer,
    check_split_elements,
    init_source,
    initial_potential,
    isolated_atom_cutoff,
    open_split,
    scan,
    training_subset,
)


class TrainingForward(nn.Module):
    """Physical predictions of a potential for training (the module that DDP wraps)."""

    def __init__(self, potential: Potential, conservative: bool, stress: bool) -> None:
        super().__init__()
        self.potential, self.conservative, self.stress = potential, conservative, stress

    def forward(self, batch: Batch) -> dict[str, Tensor]:
        if self.conservative or self.stress:
            batch = self.potential.derivative_graph(batch)
        results = self.potential.energy_and_derivatives(
            batch, forces=self.conservative, stress=self.stress, create_graph=True
        )
        if not self.conservative:
            results["forces"] = results.pop("direct_forces")
        return results


@dataclasses.dataclass
class TrainState:
    """Counters saved with every checkpoint."""

    step: int = 0
    position: Position = Position()
    best_val_forces_mae: float = math.inf


class Trainer:
    """Holds a run: data, potential, optimizer, EMA, state; `run` trains to the end or ``stop_at_step``."""

    def __init__(self, config: TrainConfig, run_dir: str | Path, resume: bool = False) -> None:
        self.config, self.run_dir = config, Path(run_dir)
        self.device, self.rank, self.world_size = runtime.start_process(config.device)
        self.is_main = self.rank == 0
        data = config.data
        self.train_set = training_subset(open_split(data, data.train, ("energy", "forces")), data.train_limit)
        self.val_set = open_split(data, data.val, ("energy", "forces"))
        loaded = init_source(config)
        num_atoms, statistics = scan(self.train_set, isolated_atom_cutoff(config, loaded))
        if statistics.isolated_atom_elements and self.is_main:
            symbols = ", ".join(chemical_symbols[number] for number in statistics.isolated_atom_elements)
            print(f"element references pinned to isolated atoms: {symbols}", file=sys.stderr)
        train_stress = config.loss.stress_coefficient > 0
        if train_stress and statistics.num_stress_labels == 0:
            raise ConfigError(f"loss.stress_coefficient: no structure of data.train ({data.train}) has a stress label")
        self.potential = initial_potential(config, statistics, loaded).to(self.device, config.dtype)
        self.test_set = open_split(data, data.test, ("energy", "forces")) if data.test else None
        trained_elements = self.potential.statistics.trained_elements
        check_split_elements(self.val_set, trained_elements, "data.val")
        if self.test_set is not None:
            check_split_elements(self.test_set, trained_elements, "data.test")
        self.potential.train()
        if config.compile:
            self.potential.compile_network()
        self.sampler = BalancedBatches(num_atoms, config.optim.batch_size, self.rank, self.world_size, config.seed)
        self.steps_per_epoch = self.sampler.batches_per_epoch / config.optim.grad_accumulation
        self.max_steps = resolve_steps(config.optim.max_steps, config.optim.max_epochs, self.steps_per_epoch)
        self.warmup_steps = resolve_steps(config.optim.warmup_steps, config.optim.warmup_epochs, self.steps_per_epoch)
        self.optimizer = build_optimizer(self.potential.model, config)
        decay = config.optim.ema_decay
        self.ema = ExponentialMovingAverage(self.potential.model, decay) if decay is not None else None
        self.forward = self._wrap(
            TrainingForward(self.potential, config.loss.forces_mode == "conservative", train_stress)
        )
        self.state = TrainState()
        if resume:
            self.restore(read_checkpoint_file(self.run_dir / "last.pt"))
        else:
            torch.manual_seed(config.seed + self.rank)
        self.logbook = Logbook(self.run_dir, config.tensorboard) if self.is_main else None
        if self.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            (self.run_dir / "config.yaml").write_text(config_to_yaml(config))
            self.logbook.truncate_after(self.state.step)

    def _wrap(self, module: TrainingForward) -> nn.Module:
        if self.world_size == 1:
            return module
        device_ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(module, device_ids=device_ids, find_unused_parameters=module.conservative)

    def run(self) -> dict[str, float]:
        """Train until max_steps (or stop_at_step); returns the last validation row."""
        config = self.config
        end = min(self.max_steps, config.stop_at_step or self.max_steps)
        stream = self.sampler.stream(self.state.position)
        window = dict.fromkeys(("steps", "loss", "energy_error", "forces_error", "structures", "components"), 0.0)
        window_start, row = time.monotonic(), {}
        bar = progress_bar(self.max_steps, "train", "step", initial=self.state.step, disable=not self.is_main)
        with bar:
            while self.state.step < end:
                lr = self.train_step(stream, window)
                bar.set_postfix_str(self.status(window, time.monotonic() - window_start, lr), refresh=False)
                bar.update(1)
                if self.state.step % config.eval_every == 0 or self.state.step == end:
                    row = self.evaluate_and_save(window, time.monotonic() - window_start, lr)
                    window = dict.fromkeys(window, 0.0)
                    window_start = time.monotonic()
        if self.state.step == self.max_steps and self.is_main:
            self.finish()
        runtime.barrier()
        if self.logbook:
            self.logbook.close()
        return row

    def status(self, window: dict[str, float], seconds: float, lr: float) -> str:
        """Loss, learning rate and throughput since the last evaluation, for the progress bar."""
        loss = window["loss"] / max(1.0, window["steps"])
        rate = window["structures"] * self.world_size / max(seconds, 1e-9)
        return f"loss {loss:.4f} lr {lr:.2e} {rate:.1f} structures/s"

    def train_step(self, stream, window: dict[str, float]) -> float:
        """One optimizer step over ``grad_accumulation`` micro-batches; returns the learning rate used."""
        optim = self.config.optim
        lr = learning_rate(
            self.state.step, optim.lr, self.max_steps, self.warmup_steps, optim.warmup_factor, optim.lr_min_factor
        )
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.optimizer.zero_grad(set_to_none=True)
        step_loss = torch.zeros((), dtype=torch.float64)
        for micro in range(optim.grad_accumulation):
            indices = next(stream)[1]
            batch = self.potential.collate([self.train_set[i] for i in indices])
            last = micro == optim.grad_accumulation - 1
            sync = contextlib.nullcontext() if last or self.world_size == 1 else self.forward.no_sync()
            with sync:
                loss = self.micro_step(batch, window)
            step_loss += loss
        if optim.grad_clip is not None:
            nn.utils.clip_grad_norm_(self.potential.model.parameters(), optim.grad_clip)
        self.optimizer.step()
        if self.ema is not None:
            self.ema.update(self.potential.model)
        self.state = dataclasses.replace(
            self.state, step=self.state.step + 1, position=self.advanced(self.state.position, optim.grad_accumulation)
        )
        window["loss"] += float(runtime.sum_over_ranks(step_loss))
        window["steps"] += 1
        return lr

    def micro_step(self, batch: Batch, window: dict[str, float]) -> Tensor:
        """Forward and backward of one micro-batch; returns its share of the global loss (float64, detached)."""
        bf16 = self.config.bf16 if self.config.bf16 is not None else self.device.type == "cuda"
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=bf16):
            predictions = self.forward(batch)  # in the positions' dtype (`Potential` casts)
        statistics = self.potential.statistics
        terms = loss_terms(predictions, batch, self.config.loss, statistics.energy.std, statistics.forces.std)
        counts = runtime.sum_over_ranks(torch.stack([term.count for term in terms.values()]))
        # a count of 0 over all ranks (no stress label in any micro-batch) has a total of 0: the term adds 0
        loss = sum(term.coefficient * term.total / count.clamp(min=1.0) for term, count in zip(terms.values(), counts))
        accumulation = self.config.optim.grad_accumulation
        (loss * (self.world_size / accumulation)).backward()
        window["energy_error"] += float((predictions["energy"].detach() - batch.energy).abs().sum())
        window["forces_error"] += float((predictions["forces"].detach() - batch.forces).abs().sum())
        window["structures"] += batch.num_graphs
        window["components"] += batch.forces.numel()
        return loss.detach().double().cpu() / accumulation

    def advanced(self, position: Position, batches: int) -> Position:
        flat = position.epoch * self.sampler.batches_per_epoch + position.batch + batches
        return Position(*divmod(flat, self.sampler.batches_per_epoch))

    def validate(self) -> tuple[dict[str, float], Predictions]:
        """Metrics of the (EMA) weights on the validation set, computed over all ranks."""
        indices = list(range(self.rank, len(self.val_set), self.world_size))
        swap = self.ema.swapped_into(self.potential.model) if self.ema else contextlib.nullcontext()
        self.potential.eval()
        with swap:
            part = predict_dataset(
                self.potential, self.val_set, indices, self.config.eval_batch_size, self.config.loss.forces_mode
            )
        self.potential.train()
        predictions = Predictions.concatenate(runtime.gather_objects(part))
        return compute_metrics(predictions), predictions

    def evaluate_and_save(self, window: dict[str, float], seconds: float, lr: float) -> dict[str, float]:
        totals = runtime.sum_over_ranks(
            torch.tensor([window["energy_error"], window["forces_error"], window["structures"], window["components"]])
        ).tolist()
        metrics, _ = self.validate()
        step = self.state.step
        row = {
            "step": step,
            "epoch": step / self.steps_per_epoch,
            "lr": lr,
            "train_loss": window["loss"] / max(1.0, window["steps"]),
            "train_energy_mae": totals[0] / max(1.0, totals[2]),
            "train_forces_mae": totals[1] / max(1.0, totals[3]),
            **{f"val_{key}": value for key, value in metrics.items() if key != "n"},
            "structures_per_s": totals[2] / max(seconds, 1e-9),
        }
        improved = metrics["forces_mae"] < self.state.best_val_forces_mae
        if improved:
            self.state = dataclasses.replace(self.state, best_val_forces_mae=metrics["forces_mae"])
        rng_states = runtime.gather_objects(random_states())  # every rank's, for an exact resume
        if self.is_main:
            self.logbook.record(row)
            tqdm.write(log_line(row), file=sys.stderr)
            checkpoint = self.checkpoint(rng_states)
            if improved:
                save_atomically(checkpoint, self.run_dir / "best.pt")
            save_atomically(checkpoint, self.run_dir / "last.pt")
        return row

    def checkpoint(self, rng_states: list[dict[str, Any]]) -> dict[str, Any]:
        """eqv2-format dict (EMA weights) plus the training state under "training"."""
        model = self.potential.model
        metadata = {"trained_steps": self.state.step, "training_config": self.config.to_dict()}
        data = checkpoint_dict(self.potential, metadata)
        if self.ema is not None:
            data["state_dict"] = {k: v.cpu() for k, v in self.ema.averaged_state_dict(model).items()}
        data["training"] = {
            "raw_state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
            "optimizer": self.optimizer.state_dict(),
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "rng": rng_states,  # one per rank
            "step": self.state.step,
            "epoch": self.state.position.epoch,
            "batch_in_epoch": self.state.position.batch,
            "best_val_forces_mae": self.state.best_val_forces_mae,
            "config": self.config.to_dict(),
        }
        return data

    def restore(self, checkpoint: dict[str, Any]) -> None:
        """Continue from a checkpoint written by `checkpoint`."""
        training = checkpoint.get("training")
        if training is None:
            raise ValueError(f"{self.run_dir / 'last.pt'}: has no training state to resume from")
        self.potential.model.load_state_dict(training["raw_state_dict"])
        self.potential.statistics = type(self.potential.statistics).from_dict(checkpoint["statistics"])
        self.optimizer.load_state_dict(training["optimizer"])
        if self.ema is not None:
            self.ema.load_state_dict(training["ema"])
        states = training["rng"]
        set_random_states(states[self.rank] if len(states) == self.world_size else states[0])
        self.state = TrainState(
            step=training["step"],
            position=Position(training["epoch"], training["batch_in_epoch"]),
            best_val_forces_mae=training["best_val_forces_mae"],
        )

    def finish(self) -> None:
        """Plots and test metrics of the best model (rank 0)."""
        from eqv2.train import plots

        best = load(self.run_dir / "best.pt", device=self.device, dtype=self.config.dtype)
        if self.config.plots:
            plots.learning_curves(self.run_dir / "metrics.csv", self.run_dir / "learning_curves.png")
            predictions = predict_dataset(
                best,
                self.val_set,
                list(range(len(self.val_set))),
                self.config.eval_batch_size,
                self.config.loss.forces_mode,
            )
            plots.parity(predictions, self.run_dir / "parity_val.png", "validation set, best checkpoint")
        if self.test_set is not None:
            metrics = compute_metrics(self.predict_all(best, self.test_set))
            (self.run_dir / "test_metrics.json").write_text(json.dumps(metrics, indent=2))
            print("test: " + " ".join(f"{k} {v:.4g}" for k, v in metrics.items()), file=sys.stderr)

    def predict_all(self, potential: Potential, dataset) -> Predictions:
        indices = list(range(len(dataset)))
        return predict_dataset(potential, dataset, indices, self.config.eval_batch_size, self.config.loss.forces_mode)


def random_states() -> dict[str, Any]:
    """This process's torch RNG states (CPU and CUDA)."""
    return {"cpu": torch.get_rng_state(), "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}


def set_random_states(states: dict[str, Any]) -> None:
    torch.set_rng_state(states["cpu"])
    if states["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def resolve_steps(steps: int | None, epochs: float | None, steps_per_epoch: float) -> int:
    """A step count given directly or in epochs (0 when neither is set)."""
    if steps is not None:
        return steps
    return int(round(epochs * steps_per_epoch)) if epochs is not None else 0


def train(config: TrainConfig, run_dir: str | Path, resume: bool = False) -> dict[str, float]:
    """Train as `config` says into ``run_dir``; returns the last validation row."""
    trainer = None
    try:
        trainer = Trainer(config, run_dir, resume)
        return trainer.run()
    finally:
        # Free the DDP reducer, which holds the last step's communication work, while the process
        # group and the interpreter are alive: freed at interpreter exit it can abort the process.
        del trainer
        gc.collect()
        runtime.teardown()
