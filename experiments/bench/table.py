"""The benchmark's one table: a row per measurement, its reference row, the
ratio, the target and whether it was met; and the notes under it."""
from experiments.bench.mmd import MaximumMeanDiscrepancy
from experiments.bench.syncs import per_step
from experiments.bench.timing import median, paired_ratio

TARGET_STEP = 1.15
TARGET_EVAL = 0.90
TARGET_MMD = 20.0
TARGET_MEMORY = 1.15
MMD_TOLERANCE = 1e-5
TARGET_SYNCS = 0.1
# What one ADU step consumes on a GPU at batch 128, images/s: docs/PERFORMANCE.md's
# estimate (an Office-Home run's 102,400 training images in 80-160 s of compute).
GPU_NEED = (640, 1280)


class Table:
    COLUMNS = ("#", "measurement", "value", "vs", "ratio", "target", "met")

    def __init__(self):
        self.rows = []
        self.verdicts = []

    def add(self, key, label, value, vs="", ratio="", target="", met=None):
        if met is not None:
            self.verdicts.append((f"{key} {label}", met))
        self.rows.append((key, label, value, vs, ratio, target,
                          "" if met is None else ("yes" if met else "NO")))

    def print(self):
        widths = [max(len(str(r[i])) for r in self.rows + [self.COLUMNS])
                  for i in range(len(self.COLUMNS))]
        line = "  ".join("-" * w for w in widths)
        fmt = lambda row: "  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip()
        print(fmt(self.COLUMNS))
        print(line)
        for row in self.rows:
            print(fmt(row))
        print(line)
        missed = [name for name, ok in self.verdicts if not ok]
        print(f"targets met: {len(self.verdicts) - len(missed)} of {len(self.verdicts)}"
              + (f"; missed: {', '.join(missed)}" if missed else ""))


def seconds(t):
    return f"{t:.3f} s" if t >= 0.1 else f"{t * 1000:.2f} ms"


def ratio_str(r):
    return f"{r:.3f}x" if r < 10 else f"{r:.1f}x"


def add_step_rows(table, times, n_steps, text_calls, reference=None):
    """Rows 1-3t: the floor, the Baseline and ADU steps, text-encoder calls;
    3o: the ADU step on OpenAI's CLIP of the same shapes (`reference`)."""
    table.add("1", "floor: stock encode_image fwd + bwd to input", seconds(median(times["floor"])))
    table.add("2", "Baseline step (prompts; memorize + forget)", seconds(median(times["baseline"])),
              "1", ratio_str(paired_ratio(times, "baseline", "floor")))
    r = paired_ratio(times, "adu", "floor")
    table.add("3", "ADU step (prompts + InstaPG + DDL)", seconds(median(times["adu"])), "1",
              ratio_str(r), f"<= {TARGET_STEP}x", r <= TARGET_STEP)
    if "adu_ckpt" in times:
        table.add("3c", "ADU step, gradient checkpointing", seconds(median(times["adu_ckpt"])),
                  "1", ratio_str(paired_ratio(times, "adu_ckpt", "floor")))
    if reference:
        table.add("3o", f"ADU step on OpenAI's CLIP code ({reference} shapes)",
                  seconds(median(times["adu_openai"])), "3",
                  ratio_str(paired_ratio(times, "adu_openai", "adu")))
    table.add("3t", f"text-encoder calls during all {n_steps} steps of 1-3",
              str(text_calls), "", "", "0", text_calls == 0)


def add_sync_row(table, counted, print_freq, steps_per_epoch):
    """Row 3s: host syncs per ADU step (syncs.py) over an epoch of the configs'."""
    rate = per_step(counted, steps_per_epoch, print_freq)
    table.add("3s", f"host syncs per ADU step ({counted['per_step_call']:g} a step + "
              f"{counted['per_read']} a log read; PRINT_FREQ {print_freq}, "
              f"{steps_per_epoch} steps/epoch)", f"{rate:.3f}", "", "",
              f"<= {TARGET_SYNCS}", rate <= TARGET_SYNCS)


def add_loader_rows(table, loaders):
    """Rows 8a-8c: training images/s of the three loaders, beside 8g, the GPU's need."""
    base = loaders["dassl"]
    setting = (f"{base['workers']} workers, {base['batch']} x "
               f"{'x'.join(map(str, base['image_shape'][1:]))} px from JPEG")
    labels = {"dassl": f"loader: Dassl's ({setting})", "persistent": "loader: persistent workers",
              "cache": "loader: shot cache + persistent workers"}
    for key, mode in zip(("8a", "8b", "8c"), ("dassl", "persistent", "cache")):
        rate = loaders[mode]["images_per_second"]
        ratio = "" if mode == "dassl" else ratio_str(rate / base["images_per_second"])
        table.add(key, labels[mode], f"{rate:.0f} img/s", "" if mode == "dassl" else "8a", ratio)
    cache = loaders["cache"]
    table.add("8d", "shot cache: decoded once before training",
              f"{cache['cache_seconds']:.1f} s, {cache['cache_mib']:.0f} MiB")
    table.add("8g", "ADU step at batch 128 on a GPU consumes (estimate, docs/PERFORMANCE.md)",
              f"{GPU_NEED[0]}-{GPU_NEED[1]} img/s")


def add_probe_rows(table, probes):
    """Rows 9: each linear probe fitted to its gradient tolerance, per dataset size."""
    rows = [(size, name, c) for size, costs in probes.items() for name, c in costs.items()]
    for letter, (size, name, c) in zip("abcdefgh", rows):
        mib = "" if c["peak_mib"] is None else f", peak +{c['peak_mib']:.0f} MiB"
        table.add(f"9{letter}", f"{name.replace('_', ' ')}, {size} size ({c['train']} "
                  f"shots, {c['classes']} classes, {c['test']} test)",
                  f"{c['seconds']:.1f} s{mib}", "", f"{c['iterations']} it",
                  "converged", c["converged"])


def add_eval_rows(table, eval_batch, eval_times):
    """Rows 4a-4b: evaluation throughput, stock CLIP and the ADU model."""
    stock_ips = eval_batch / median(eval_times["stock"])
    r = paired_ratio(eval_times, "stock", "adu")
    table.add("4a", f"eval: stock encode_image, no_grad, batch {eval_batch}",
              f"{stock_ips:.2f} img/s")
    table.add("4b", "eval: ADU model (class + domain logits), no_grad",
              f"{eval_batch / median(eval_times['adu']):.2f} img/s", "4a", ratio_str(r),
              f">= {TARGET_EVAL}x", r >= TARGET_EVAL)


def add_mmd_rows(table, settings, mmd_times, mmd_values):
    """Rows 5a-5c: the all-pairs MMD^2 against the per-pair loops."""
    table.add("5a", f"MMD^2 all pairs, one kernel matrix (B {settings.mmd_batch}, "
              f"{settings.mmd_domains} domains, fwd+bwd)", seconds(mmd_times["all_pairs"]))
    speedup = mmd_times["same_kernel_loop"] / mmd_times["all_pairs"]
    has_dassl = MaximumMeanDiscrepancy is not None
    table.add("5b", "per-pair loop, ADU's kernel + bandwidth ("
              + ("Dassl's op, kernel swapped)" if has_dassl else "no Dassl: plain loop)"),
              seconds(mmd_times["same_kernel_loop"]), "5a", f"{speedup:.1f}x slower",
              "" if has_dassl else f">= {TARGET_MMD:.0f}x",
              None if has_dassl else speedup >= TARGET_MMD)
    diff = abs(mmd_values["all_pairs"] - mmd_values["same_kernel_loop"])
    table.add("5v", "|5a - 5b|, same estimate (value-checked)", f"{diff:.1e}", "", "",
              f"<= {MMD_TOLERANCE:.0e}", diff <= MMD_TOLERANCE)
    if has_dassl:
        speedup = mmd_times["dassl_loop"] / mmd_times["all_pairs"]
        table.add("5c", "per-pair loop, Dassl's MaximumMeanDiscrepancy (timing only)",
                  seconds(mmd_times["dassl_loop"]), "5a", f"{speedup:.1f}x slower",
                  f">= {TARGET_MMD:.0f}x", speedup >= TARGET_MMD)


def add_memory_rows(table, names, memory, unit):
    """Rows 6a-6d: each step's peak memory above the model, against the floor's."""
    floor_mem = memory.get("floor")
    for key, name, label in (("6a", "floor", "floor"), ("6b", "baseline", "Baseline step"),
                             ("6c", "adu", "ADU step"), ("6d", "adu_ckpt", "ADU step, ckpt")):
        if name not in names:
            continue
        if memory.get(name) is None:
            table.add(key, f"memory: {label}", "n/a (needs Linux /proc)")
            continue
        extra, peak = memory[name]
        value = f"{extra:.0f} MiB (peak {peak:.0f})"
        if name == "floor" or not floor_mem:
            table.add(key, f"memory: {label}, {unit} above the model", value)
            continue
        r = extra / floor_mem[0]
        target = name == "adu"
        table.add(key, f"memory: {label}, {unit} above the model", value, "6a", ratio_str(r),
                  f"<= {TARGET_MEMORY}x" if target else "", (r <= TARGET_MEMORY) if target else None)


def add_text_rows(table, adu, text_costs):
    """Rows 7a...: the ADU step plus a CoOp-style text recompute per class count."""
    for letter, (n_classes, (cost, n_chunks, size, calls)) in zip("abcdefgh", text_costs.items()):
        how = f"{n_chunks} x {size} classes" if n_chunks > 1 else f"{size} classes"
        table.add(f"7{letter}", f"ADU step + text re-encoded every step (CoOp), {n_classes} "
                  "classes", seconds(adu + cost), "3", ratio_str((adu + cost) / adu))
        table.add("", f"  of which text-encoder fwd + bwd ({how}, {calls} "
                  f"call{'s' if calls != 1 else ''})", seconds(cost))


def notes(on_cpu: bool, unit: str, chunk: int) -> dict:
    """{row ("" for all): the note printed under the table unless the row is skipped}."""
    return {
        "": "Times: medians. Ratios of 2-4: medians of per-round ratios (the configurations "
            "are timed in turn, so load changes between rounds cancel).",
        "5": "5: forward + backward. 5a and 5b compute the same estimate (one Gaussian RBF, "
             "the bandwidth of the median heuristic, self-distances kept) and must agree; "
             "Dassl's stock op (5c) uses a sum of RBFs (sigma 1, 5, 10) without "
             "self-distances, a different estimate: timed only.",
        "6": f"6: {unit} during one step above the model after a warm-up step"
             + (", each configuration in its own forked process" if on_cpu else "")
             + "; ratios of those excesses.",
        "7": "7: 3 + a text-encoder forward + backward to a learnable context for every "
             f"class, timed per chunk of at most {chunk} classes and summed (ADU's cached "
             "step does not grow with the class count beyond a batch x classes matmul).",
    }
