"""The mutants: each breaks one line (or snippet) of the code in a way a
plausible slip would, and names the fast-tier tests expected to kill it.

`original` must occur exactly once in `file` (tests/test_mutants_list.py and
the tool check it), so that an edit of the code makes a mutant fail loudly
instead of silently testing nothing. docs/TESTING.md lists every mutant.
"""
from dataclasses import dataclass


@dataclass(frozen=True)
class Mutant:
    name: str
    file: str
    original: str
    replacement: str
    description: str
    killers: tuple  # pytest node ids (files or tests) run first


LOSSES = "trainers/modules/losses.py"
VISION = "trainers/modules/vision_prompts.py"
INSTAPG = "trainers/modules/instapg.py"
METRICS = "trainers/modules/metrics.py"
WIRING = ("tests/test_objective_wiring.py",)

MUTANTS = (
    # ----- the ADU trainer: what reaches the losses ---------------------------------
    Mutant("adu-features-domain-logits-swapped", "trainers/adu.py",
           "outputs.features, outputs.domain_logits, self.loss_cfg,",
           "outputs.domain_logits, outputs.features, self.loss_cfg,",
           "the embedding and the domain logits swapped on their way into adu_losses",
           WIRING),
    Mutant("adu-labels-domains-swapped", "trainers/adu.py",
           "adu_losses(outputs.logits, batch.labels, batch.domains, batch.forget_mask,",
           "adu_losses(outputs.logits, batch.domains, batch.labels, batch.forget_mask,",
           "class and domain labels swapped into adu_losses", WIRING),
    Mutant("adu-soft-targets-dropped", "trainers/adu.py",
           "                           batch.domain_targets)",
           "                           None)",
           "DATASET.DOMAIN_LABELS soft targets not passed to the losses",
           ("tests/test_objective_wiring.py::test_soft_domain_targets_reach_the_domain_ce",)),
    Mutant("adu-instapg-style-dropped", "trainers/adu.py",
           "            instapg_style=acfg.INSTAPG_STYLE,\n",
           "",
           "INSTAPG_STYLE not passed to the model (always pre_norm)",
           ("tests/test_release_switches.py",)),
    # ----- the model -------------------------------------------------------------
    Mutant("model-domain-head-unnormalised", "trainers/modules/adu_clip.py",
           "domain_logits = head(feats) if head is not None else None",
           "domain_logits = head(self.image_encoder(images)) if head is not None else None",
           "the domain classifier fed the embedding before its L2 normalisation", WIRING),
    Mutant("model-embedding-not-normalised", "trainers/modules/adu_clip.py",
           "return normalize(self.image_encoder(images))",
           "return self.image_encoder(images).float()",
           "the image embedding's L2 normalisation dropped",
           ("tests/test_model.py", *WIRING)),
    Mutant("text-features-not-normalised", "trainers/modules/clip_heads.py",
           "    return normalize(torch.cat([\n        model.encode_text(",
           "    return (torch.cat([\n        model.encode_text(",
           "the fixed class text features' L2 normalisation dropped",
           ("tests/test_model.py",)),
    Mutant("prompts-block-index-off-by-one", VISION,
           "static = self.prompts[block - 1]",
           "static = self.prompts[block - 2]",
           "block i reads the prompts of block i - 1 (block 1 those of the last)",
           ("tests/test_model.py",)),
    Mutant("prompts-last-block-not-prompted", VISION,
           "if i <= self.prompts.depth:",
           "if i < self.prompts.depth:",
           "the last prompted block keeps the previous block's prompts",
           ("tests/test_model.py",)),
    Mutant("instapg-reads-the-cls-token", VISION,
           "patches = to_layout(token_span(x, 1, n_keep, batch_first), batch_first)",
           "patches = to_layout(token_span(x, 0, n_keep, batch_first), batch_first)",
           "InstaPG's patch tokens start one token early (the CLS token among them)",
           ("tests/test_model.py",)),
    Mutant("prompts-drop-the-last-patch", VISION,
           "x = torch.cat([token_span(x, 0, n_keep, batch_first),",
           "x = torch.cat([token_span(x, 0, n_keep - 1, batch_first),",
           "the prompts overwrite the last patch token (slice one token short)",
           ("tests/test_model.py",)),
    Mutant("pooled-from-a-prompt-token", VISION,
           "x = v.ln_post(x[:, 0] if batch_first else x[0])",
           "x = v.ln_post(x[:, -1] if batch_first else x[-1])",
           "the embedding read from the last token instead of CLS",
           ("tests/test_model.py",)),
    Mutant("instapg-at-the-next-block", VISION,
           "generator = self.instapg[str(block)] if str(block) in self.instapg else None",
           "generator = self.instapg[str(block - 1)] if str(block - 1) in self.instapg else None",
           "InstaPG generates the prompts of the block after its own",
           ("tests/test_model.py",)),
    Mutant("checkpointed-block-scaled", VISION,
           "x = checkpoint(block, x, use_reentrant=False)",
           "x = checkpoint(block, x, use_reentrant=False) * (1 + 1e-4)",
           "a gradient-checkpointed block's output changed (GRAD_CHECKPOINTING changes numbers)",
           ("tests/test_grad_checkpointing.py",)),
    Mutant("instapg-residual-to-normed-query", INSTAPG,
           "        x = q + attended\n",
           "        x = q_norm + attended\n",
           "pre_norm InstaPG: the residual added to the layer-normed query",
           ("tests/test_instapg_reference.py",)),
    Mutant("instapg-head-width-128", INSTAPG,
           "heads = max(1, width // 64)",
           "heads = max(1, width // 128)",
           "InstaPG's attention heads of width 128 instead of CLIP's 64",
           ("tests/test_instapg_reference.py",)),
    Mutant("instapg-mlp-pre-norm-dropped", INSTAPG,
           "return x + self.mlp(self.ln_mlp(x))",
           "return x + self.mlp(x)",
           "pre_norm InstaPG: the MLP without its LayerNorm",
           ("tests/test_instapg_reference.py",)),
    # ----- the losses --------------------------------------------------------------
    Mutant("loss-mmd-sign", LOSSES,
           'l_domain = l_domain - config.lam * terms["mmd2"]',
           'l_domain = l_domain + config.lam * terms["mmd2"]',
           "the MMD term minimised instead of maximised", WIRING),
    Mutant("loss-domain-ce-sign", LOSSES,
           'l_domain = l_domain + config.gamma * terms["domain_ce"]',
           'l_domain = l_domain - config.gamma * terms["domain_ce"]',
           "the domain CE maximised instead of minimised", WIRING),
    Mutant("loss-uniform-ce-sign", LOSSES,
           "per_sample = -log_p.mean(dim=-1)",
           "per_sample = log_p.mean(dim=-1)",
           "L_forget (uniform_ce) with its sign flipped",
           ("tests/test_losses.py", *WIRING)),
    Mutant("loss-neg-entropy-sign", LOSSES,
           "per_sample = (log_p.exp() * log_p).sum(dim=-1)",
           "per_sample = -(log_p.exp() * log_p).sum(dim=-1)",
           "L_forget (neg_entropy, the release's) with its sign flipped",
           ("tests/test_losses.py", "tests/test_release_switches.py")),
    Mutant("loss-memorize-on-forget-samples", LOSSES,
           "return masked_mean(ce, ~forget_mask)",
           "return masked_mean(ce, forget_mask)",
           "L_memorize taken over the forget-domain samples",
           ("tests/test_losses.py", *WIRING)),
    Mutant("loss-gamma-lambda-swapped", LOSSES,
           "node.DDL_GAMMA, node.DDL_LAMBDA, bandwidth",
           "node.DDL_LAMBDA, node.DDL_GAMMA, bandwidth",
           "DDL_GAMMA and DDL_LAMBDA swapped when read from the config", WIRING),
    Mutant("loss-mmd-input-ignored", LOSSES,
           'mmd_in = domain_logits.float() if config.mmd_input == "domain_logits" else features',
           "mmd_in = features",
           "MMD_INPUT domain_logits ignored (the MMD always on the embedding)", WIRING),
    Mutant("loss-median-over-the-diagonal", LOSSES,
           "return torch.triu_indices(n, n, offset=1, device=device)",
           "return torch.triu_indices(n, n, offset=0, device=device)",
           "the median bandwidth taken with the zero self-distances",
           ("tests/test_losses.py",)),
    # ----- the engine: forget mask, evaluation -------------------------------------------
    Mutant("engine-forget-mask-inverted", "trainers/engine/base.py",
           "return torch.isin(domains, self.forget_ids)",
           "return ~torch.isin(domains, self.forget_ids)",
           "the forget mask marks the memorize domains", WIRING),
    Mutant("eval-scored-from-the-labels", "trainers/engine/evaluation.py",
           'out["pred"].append(res["logits"].argmax(dim=-1).cpu()[keep])',
           'out["pred"].append(label.cpu()[keep])',
           "results scored from the labels instead of the model's predictions",
           ("tests/test_results_pooling.py",)),
    # ----- the metrics ---------------------------------------------------------------
    Mutant("metrics-mem-mean-of-domains", METRICS,
           "mem = pooled_accuracy(correct, domains, memorize_ids)",
           "mem = float(np.mean([pooled_accuracy(correct, domains, [d]) for d in memorize_ids]))",
           "Mem as the mean of the memorize domains' accuracies, not pooled",
           ("tests/test_results_pooling.py", "tests/test_metrics.py")),
    Mutant("metrics-for-not-complemented", METRICS,
           "forget = 100.0 - pooled_accuracy(correct, domains, forget_ids)",
           "forget = pooled_accuracy(correct, domains, forget_ids)",
           "For as the forget domains' accuracy instead of 100 minus it",
           ("tests/test_metrics.py",)),
    Mutant("metrics-h-arithmetic-mean", METRICS,
           "else 2.0 * mem * forget / (mem + forget)",
           "else (mem + forget) / 2.0",
           "H as the arithmetic mean of Mem and For", ("tests/test_metrics.py",)),
    # ----- the few-shot sampler ---------------------------------------------------------
    Mutant("shots-per-class-not-per-domain", "datasets/adu_base.py",
           "groups[(item.label, item.domain)].append(item)",
           "groups[(item.label, 0)].append(item)",
           "NUM_SHOTS per class instead of per (class, domain)",
           ("tests/test_datasets.py",)),
    Mutant("shots-from-the-test-split", "datasets/adu_base.py",
           'pool = splits["train"]',
           'pool = splits["test"]',
           "the training shots drawn from the test split", ("tests/test_datasets.py",)),
    # ----- the results table ----------------------------------------------------------
    Mutant("table-h-from-mean-mem-for", "experiments/results/cells.py",
           "        return mean_std([r.scores[key] for r in self.runs])",
           "        if key == 'h':\n"
           "            m, f = self.stats('mem')[0], self.stats('for')[0]\n"
           "            return 2 * m * f / (m + f), None\n"
           "        return mean_std([r.scores[key] for r in self.runs])",
           "a cell's H as the H of its mean Mem and For, not the mean of the runs' H",
           ("tests/test_parse_results.py",)),
    # ----- the benchmark's checks -------------------------------------------------------
    Mutant("bench-text-counter-never-counts", "experiments/bench/steps.py",
           "self.calls += 1",
           "self.calls += 0",
           "the benchmark's text-encoder counter counts nothing (row 3t always 0)",
           ("tests/test_bench_checks.py",)),
    Mutant("bench-per-pair-loop-drops-self-distances", "experiments/bench/mmd.py",
           "    def remove_self_distance(distmat):\n        return distmat",
           "    def remove_self_distance(distmat):\n"
           "        n = len(distmat)\n"
           "        return distmat[~torch.eye(n, dtype=torch.bool)].view(n, -1)",
           "the benchmark's per-pair MMD loop drops self-distances (another estimate)",
           ("tests/test_bench_checks.py",)),
)
