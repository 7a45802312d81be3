"""The training log's losses and batch accuracies, kept on the device between prints.

A GPU runs ahead of the host until the host asks for a value: a `.item()`,
or an `if` on a tensor, per loss term and step would stall its queue a dozen
times a step. `LossLog.add` records a step with device operations only;
`LossLog.read` fetches the whole epoch so far in ONE transfer (called every
TRAIN.PRINT_FREQ steps and at the end of the epoch), and that is also where
a non-finite loss stops the run, naming the term and the batch where it
first appeared. No Dassl: tools/benchmark.py counts the syncs of this log.
"""
import torch

ACCURACIES = ("acc_mem", "acc_forget")


class LossLog:
    """Every loss term ("loss_<name>") and the memorize / forget batch
    accuracies of the steps of one epoch: the last value and the mean over
    the steps that had it (the batch accuracy of a domain kind counts only
    in steps whose batch holds such a sample), as Dassl's MetricMeter shows."""

    def __init__(self, epoch: int = 0, prec: str = "fp32"):
        self.epoch, self.prec = epoch, prec
        self.names = None
        self.state = None  # [5, n]: last, sum, count, first bad batch, first bad value

    def add(self, terms: dict, logits: torch.Tensor, batch, batch_idx: int) -> None:
        """Record one step's loss terms and the accuracy of its class `logits`
        on `batch` (a training_step.Batch): no host synchronisation."""
        with torch.no_grad():
            correct = (logits.argmax(dim=-1) == batch.labels).double()
            forget = batch.forget_mask.double()
            counts = torch.stack([(1.0 - forget).sum(), forget.sum()])
            hits = torch.stack([(correct * (1.0 - forget)).sum(), (correct * forget).sum()])
            values = torch.cat([torch.stack([v.detach().double().reshape(()) for v in
                                             terms.values()]),
                                100.0 * hits / counts.clamp(min=1.0)])
            present = torch.cat([torch.ones(len(terms), dtype=torch.bool,
                                            device=values.device), counts > 0])
            if self.state is None:
                self.names = [f"loss_{k}" for k in terms] + list(ACCURACIES)
                self.state = torch.zeros(5, len(values), dtype=torch.float64,
                                         device=values.device)
                self.state[3] = -1.0
            last, total, count, bad_batch, bad_value = self.state
            newly_bad = (bad_batch < 0) & ~torch.isfinite(values)
            self.state = torch.stack([
                torch.where(present, values, last),
                total + torch.where(present, values, torch.zeros_like(values)),
                count + present.double(),
                torch.where(newly_bad, torch.full_like(values, float(batch_idx)), bad_batch),
                torch.where(newly_bad, values, bad_value),
            ])

    def read(self) -> dict:
        """{name: (last, mean)} of every value seen in this epoch, from one
        device-to-host transfer. Raises FloatingPointError on the first loss
        term that was not finite (the epoch and batch where it was)."""
        if self.state is None:
            return {}
        last, total, count, bad_batch, bad_value = self.state.tolist()
        bad = [(b, i) for i, b in enumerate(bad_batch) if b >= 0]
        if bad:
            batch_idx, i = min(bad)
            hint = " Try PREC fp32 or amp." if self.prec == "fp16" else ""
            raise FloatingPointError(
                f"Loss term '{self.names[i][len('loss_'):]}' is {bad_value[i]} at epoch "
                f"{self.epoch + 1}, batch {int(batch_idx) + 1}.{hint}")
        return {name: (last[i], total[i] / count[i])
                for i, name in enumerate(self.names) if count[i] > 0}


def format_values(values: dict) -> str:
    """Dassl's MetricMeter format: "name last (mean)" for each value."""
    return " ".join(f"{name} {last:.4f} ({mean:.4f})" for name, (last, mean) in values.items())


def shown(values: dict, names: dict) -> dict:
    """`values` with the names the log prints (a trainer's `loss_names`)."""
    return {names.get(name, name): value for name, value in values.items()}
