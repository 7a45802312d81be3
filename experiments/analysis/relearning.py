"""Recovery by relearning: how fast a few labelled shots undo the forgetting.

The trainable parameters of a rebuilt run (or of the same model before
training) are fine-tuned with L_memorize only, plain cross-entropy with the
run's own class text features, on k labelled forget-domain shots; the
forget-domain test accuracy is scored every few steps. Forgetting that a
few dozen steps undo is shallow. The step is the trainers' own
(engine/training_step.py: PREC's autocast, amp scaling).
"""
import torch

from trainers.engine.precision import make_grad_scaler
from trainers.engine.training_step import Batch, autocast_context, check_finite, training_step
from trainers.modules.losses import memorize_loss


def class_logits(outputs) -> torch.Tensor:
    """The class logits of a model's forward output (ADU returns a record)."""
    return outputs.logits if hasattr(outputs, "logits") else outputs


def tensor_batches(images, labels, batch_size: int):
    """(images, labels) batches of preloaded tensors, re-iterable."""
    return [(images[i:i + batch_size], labels[i:i + batch_size])
            for i in range(0, len(labels), batch_size)]


@torch.no_grad()
def accuracy(model, batches, prec, device) -> float:
    """Class accuracy (%) of `model` over `batches`, an iterable of (images,
    labels) batches read one at a time (a domain's images never all in memory)."""
    correct = total = 0
    for images, labels in batches:
        with autocast_context(prec, device):
            logits = class_logits(model(images.to(device)))
        correct += (logits.argmax(dim=-1).cpu() == labels).sum().item()
        total += len(labels)
    return 100.0 * correct / total


def relearn(model, train, test, steps: int, every: int, lr: float, batch_size: int,
            prec: str = "fp32", device="cpu", seed: int = 1) -> dict:
    """{step: forget-domain test accuracy} while fine-tuning `model`'s trainable
    parameters on `train` = (images, labels) with SGD (momentum 0.9, constant
    `lr`), mini-batches of `batch_size` drawn with `seed`; step 0 is the start.
    `test` is (images, labels) tensors or a re-iterable of (images, labels)
    batches (streamed from disk by tools/robustness.py)."""
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameter to relearn with")
    optim = torch.optim.SGD(params, lr=lr, momentum=0.9)
    scaler = make_grad_scaler(prec, device)
    images, labels = train
    gen = torch.Generator().manual_seed(seed)
    if isinstance(test, tuple) and len(test) == 2 and torch.is_tensor(test[0]):
        test = tensor_batches(*test, batch_size)
    score = lambda: accuracy(model, test, prec, device)  # noqa: E731
    curve = {0: score()}
    order = torch.randperm(len(labels), generator=gen)
    cursor = 0
    for step in range(1, steps + 1):
        if cursor >= len(order):
            order, cursor = torch.randperm(len(labels), generator=gen), 0
        idx = order[cursor:cursor + batch_size]
        cursor += batch_size
        y = labels[idx].to(device)
        no_forget = torch.zeros_like(y, dtype=torch.bool)

        def objective(outputs, batch):
            logits = class_logits(outputs)
            return {"total": memorize_loss(logits=logits, labels=batch.labels,
                                                forget_mask=batch.forget_mask)}, logits
        with torch.enable_grad():
            # L_memorize reads no domain label
            batch = Batch(images[idx].to(device), y, torch.zeros_like(y), no_forget)
            terms, _ = training_step(model, batch, objective, [optim], scaler, prec, device)
        check_finite(terms, 0, step - 1, prec)  # an analysis: one sync a step is fine
        if step % every == 0 or step == steps:
            curve[step] = score()
    return curve
