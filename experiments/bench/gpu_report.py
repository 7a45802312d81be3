"""The one Markdown table of tools/gpu_check.py: a row per check (device,
steps, evaluation, host syncs, the three data loaders, toy run, fp16
non-finite check)."""

TIME_BUDGET_S = 8 * 60


def plural(n, word):
    return f"{n} {word}{'' if n == 1 else 's'}"


def fmt_s(seconds):
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def device_row(info):
    return ("device", info.get("name", ""),
            f"{info.get('memory_gib', 0):.1f} GiB, compute {info.get('capability', '-')}"
            if "memory_gib" in info else info["device"],
            f"torch {info['torch']}, CUDA {info['cuda']}, cuDNN {info['cudnn']}, driver "
            f"{info.get('driver', '-')}, {info['cpus']} CPUs")


def step_rows(s):
    """The ADU step and evaluation rows of one benchmark setting."""
    setting = f"PREC {s['prec']}, batch {s['batch']}"
    if "error" in s:
        return [("ADU step", setting, "FAILED", s["error"])]
    sec, ratio = s["step_seconds"], s["step_vs_floor"]
    mem = s["memory_mib"].get("adu") or {}
    ips = s["eval_images_per_second"]
    return [("ADU step", setting,
             f"{fmt_s(sec['adu'])} = {ratio['adu']:.2f}x the floor "
             f"({fmt_s(sec['floor'])})",
             f"{s['batch'] / sec['adu']:.0f} img/s; Baseline {ratio['baseline']:.2f}x; "
             f"peak {mem.get('peak', float('nan')):.0f} MiB ({s['memory_kind']}), "
             f"{mem.get('above_model', float('nan')):.0f} above the model; "
             f"text-encoder calls {s['text_encoder_calls']}"
             + ("" if s["prec"] == s["prec_used"] else
                f"; ran in {s['prec_used']} (no CUDA)")),
            ("evaluation", setting, f"{ips['adu']:.0f} img/s (ADU model)",
             f"stock encode_image {ips['stock']:.0f} img/s "
             f"({ips['adu'] / ips['stock']:.2f}x)"),
            sync_row(setting, s["host_syncs"])]


def sync_row(setting, syncs):
    """Host syncs per ADU step (experiments/bench/syncs.py), over an epoch."""
    calls = ", ".join(f"{name} {n}" for name, n in sorted(syncs["calls"].items())) or "none"
    return ("host syncs", setting, f"{syncs['per_step']:.3f} per step",
            f"{syncs['per_step_call']:g} a step + {syncs['per_read']} a log read; PRINT_FREQ "
            f"{syncs['print_freq']}, {syncs['steps_per_epoch']} steps/epoch; calls: {calls}")


def loader_rows(steps, loaders):
    """Each loader's images/s (loader_speed.LOADERS), beside what the fp16
    step at the largest batch consumes."""
    consumer = next((s for s in steps if "error" not in s and s["prec"] == "fp16"
                     and s["batch"] == max(x["batch"] for x in steps)), None)
    need = consumer["batch"] / consumer["step_seconds"]["adu"] if consumer else None
    rows = []
    for mode, loader in loaders.items():
        verdict = ""
        if need:
            verdict = (f"the fp16 step at batch {consumer['batch']} consumes {need:.0f} img/s: "
                       + ("data-bound (the GPU waits for the loader)"
                          if loader["images_per_second"] < need else "the loader keeps up")
                       + f" ({loader['images_per_second'] / need:.2f}x)")
        if loader.get("cache_seconds") is not None:
            verdict += (f"; decoded once in {loader['cache_seconds']:.1f} s, "
                        f"{loader['cache_mib']:.0f} MiB")
        rows.append((f"data loader ({mode})", f"{loader['workers']} workers, JPEG -> "
                     f"{'x'.join(map(str, loader['image_shape'][1:]))} px, batch "
                     f"{loader['batch']}", f"{loader['images_per_second']:.0f} img/s",
                     verdict.lstrip("; ")))
    return rows


def toy_rows(toy):
    """The toy run's H (or its failure) and the fp16 non-finite check."""
    setting = f"{plural(toy['epochs'], 'epoch')}, train.py, {toy['prec']}"
    if "error" in toy:
        run = ("toy run", setting, "FAILED",
               f"exit {toy['exit']}: {toy['error']}; log {toy['log']}")
    else:
        run = ("toy run", setting,
               f"H {toy['h']:.2f} (Mem {toy['mem']:.2f}, For {toy['for']:.2f})",
               f"{toy['seconds']:.0f} s including start-up")
    check = ("fp16 non-finite check", f"the toy run's {plural(toy['steps_logged'], 'step')}",
             "pass" if toy["finite"] else "FAIL",
             f"{toy['losses_logged']} logged losses, non-finite: "
             f"{', '.join(toy['non_finite_losses']) or 'none'}; trained weights "
             f"non-finite: {', '.join(toy['non_finite_weights'] or []) or 'none'}"
             + ("; train.py stopped on a non-finite loss" if toy["overflow"] else ""))
    return [run, check]


def report_rows(info, steps, loaders, toy):
    """(check, setting, result, note) rows of the one Markdown table."""
    rows = [device_row(info)]
    for s in steps:
        rows += step_rows(s)
    return rows + loader_rows(steps, loaders) + toy_rows(toy)


def markdown(rows, wall, arch):
    lines = ["| check | setting | result | note |", "|---|---|---|---|"]
    lines += ["| " + " | ".join(str(c).replace("|", "/") for c in row) + " |" for row in rows]
    lines.append("")
    lines.append(f"Wall time {wall:.0f} s"
                 + (f" (over the {TIME_BUDGET_S // 60}-minute budget)"
                    if wall > TIME_BUDGET_S else "") + ". Steps: median of timed runs after "
                 f"warm-up, random CLIP {arch} weights; floor = stock encode_image forward + "
                 "backward to the input; details in benchmark.log.")
    return "\n".join(lines) + "\n"
