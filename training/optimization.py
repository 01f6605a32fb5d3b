"""The optimiser and the learning-rate schedule: Monodepth2's Adam + StepLR, the paper's AdamW + cosine, a warm-up.

Schedulers are stepped once per epoch (at its end); the optional linear warm-up (``--warmup_steps``) scales the
rate around each optimiser step only, so the schedulers never see it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from training.model import MonodepthModel
from training.options import Options

STEP_LR_GAMMA = 0.1


def build_optimizer(model: MonodepthModel, opt: Options) -> torch.optim.Optimizer:
    """Adam (Monodepth2; ``weight_decay`` is then Adam's coupled L2 term) or AdamW (decoupled), ``learning_rate``.

    Parameters are in the model's registration order. The intrinsics head, when there is one, gets its own
    group with weight decay 0: decay would pull its weights, hence K, towards the prior.
    """
    head = list(model.intrinsics.parameters()) if model.intrinsics is not None else []
    head_ids = {id(p) for p in head}
    groups = [{"params": [p for p in model.parameters() if id(p) not in head_ids]}]
    if head:
        groups.append({"params": head, "weight_decay": 0.0})
    optimizer_class = torch.optim.AdamW if opt.optimizer == "adamw" else torch.optim.Adam
    return optimizer_class(groups, lr=opt.learning_rate, weight_decay=opt.weight_decay)


def warmup_factor(step: int, warmup_steps: int) -> float:
    """Multiplier of the scheduled learning rate at ``step`` (0-based): (step + 1)/warmup_steps during the
    warm-up, then 1."""
    return min(1.0, (step + 1) / warmup_steps) if warmup_steps > 0 else 1.0


@contextlib.contextmanager
def scaled_learning_rate(optimizer: torch.optim.Optimizer, factor: float) -> Iterator[None]:
    """Every group's rate × ``factor`` inside the block, restored after it, so the epoch scheduler never sees it."""
    scheduled = [group["lr"] for group in optimizer.param_groups]
    for group, lr in zip(optimizer.param_groups, scheduled):
        group["lr"] = lr * factor
    try:
        yield
    finally:
        for group, lr in zip(optimizer.param_groups, scheduled):
            group["lr"] = lr


def step_size_for_budget(max_steps: int, steps_per_epoch: int, drop_at: float = 0.75) -> int:
    """``--scheduler_step_size`` (epochs) that drops the rate after ``drop_at`` of a ``max_steps`` budget, as
    Monodepth2's 15 of 20 epochs; at least 1."""
    return max(1, round(drop_at * max_steps / steps_per_epoch))


def build_scheduler(optimizer: torch.optim.Optimizer, opt: Options) -> torch.optim.lr_scheduler.LRScheduler:
    """StepLR(scheduler_step_size, 0.1), or CosineAnnealingLR(T_max=num_epochs, eta_min=0); stepped per epoch.

    Stepped at the END of every epoch (see ``Trainer.train``): with StepLR, epochs 0..step-1 run at the initial
    rate and the rest at 0.1×, the paper's 15 + 5 epochs (Monodepth2 steps at the start of each epoch, which
    on PyTorch ≥ 1.1 gives 14 + 6, issue #431; on the authors' 0.4.1 it gave 15 + 5, as here). With cosine,
    epoch e runs at lr·(1 + cos(π·e/num_epochs))/2.
    """
    if opt.scheduler == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=opt.num_epochs, eta_min=0.0)
    return torch.optim.lr_scheduler.StepLR(optimizer, opt.scheduler_step_size, STEP_LR_GAMMA)
