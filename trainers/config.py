"""Every config key the project adds to Dassl's default config tree, with its default.

`train.py`'s `extend_cfg` calls `extend_cfg` here before merging the dataset
yaml, the method yaml and the command-line opts, so every key below can be
set in any of them. Defaults follow docs/METHOD.md (sections 2-4) and, for
the comparison trainers, the paper of each method (section 8); the CoOp
family's nodes at the end are those codebases' own, so that their trainer
files run unchanged. What a value may be is checked once, before anything is
built, in config_checks.py. The run folder's fingerprint covers a key added
after fingerprints were first recorded only where it differs from its
default here (trainers/run/fingerprint.py), so a new key is added here and
in the code that reads it, nowhere else.
"""
from yacs.config import CfgNode as CN


def add_dataset_config(cfg):
    # Domains whose images the model must stop recognising (names from the
    # dataset's domain list, e.g. ["art"]); every other domain is memorised.
    cfg.DATASET.FORGET_DOMAINS = []
    # Labelled shots per (class, domain) pair, drawn with the run seed.
    cfg.DATASET.NUM_SHOTS = 8
    # Domain labels of the training images: "given" (the dataset's), "pseudo"
    # (inferred before training by clustering frozen CLIP features, only
    # LABELLED_PER_DOMAIN images per domain keep theirs; trainers/modules/
    # pseudo_domains.py) or "soft" (pseudo, with the domain CE on the cluster
    # posteriors). Test-time scores always use the true domains.
    cfg.DATASET.DOMAIN_LABELS = "given"
    # With pseudo/soft: training images per domain whose true label is known;
    # they name the clusters.
    cfg.DATASET.LABELLED_PER_DOMAIN = 1
    # With soft: temperature of the cluster posteriors, in units of the mean
    # squared distance of an image to its own cluster centre.
    cfg.DATASET.SOFT_TEMPERATURE = 1.0
    # An image that cannot be read (truncated, garbage, zero bytes) and that
    # the dataset does not list as known-broken stops the run, naming it;
    # True skips such images instead (a shot is replaced by another draw) and
    # counts the skipped test images per domain in results.json.
    cfg.DATASET.SKIP_UNREADABLE = False


def add_adu_config(cfg):
    cfg.TRAINER.ADU = CN()
    # Learnable vision prompt tokens per prompted block.
    cfg.TRAINER.ADU.N_CTX_VISION = 8
    # Number of leading transformer blocks that get their own prompts
    # (0 disables deep vision prompting).
    cfg.TRAINER.ADU.PROMPT_DEPTH_VISION = 9
    # Precision of the frozen CLIP: fp16 (weights in half), fp32, or amp
    # (fp32 weights + autocast). On a CPU, fp16 and amp fall back to fp32.
    cfg.TRAINER.ADU.PREC = "fp16"
    # Recompute the image encoder's block activations in the backward pass
    # instead of storing them: much less memory for large batches, at the
    # cost of a second forward pass (tools/benchmark.py --grad-checkpointing).
    cfg.TRAINER.ADU.GRAD_CHECKPOINTING = False
    # Fixed text template; class text features are computed once from it.
    cfg.TRAINER.ADU.TEXT_TEMPLATE = "a photo of a {}."
    # Learned text prompts, the authors' release (docs/METHOD.md section 10;
    # off in the paper): N_CTX_TEXT context tokens, "[ctx] classname.", replace
    # the template (0 = the fixed template, its features cached); class text
    # features are then recomputed at every training step and once per evaluation.
    cfg.TRAINER.ADU.N_CTX_TEXT = 0
    # With N_CTX_TEXT > 0: text blocks 1..PROMPT_DEPTH_TEXT get prompts (block 1
    # the context tokens, blocks 2.. their own deep text prompts; release: 9).
    cfg.TRAINER.ADU.PROMPT_DEPTH_TEXT = 1
    # Start the text context from the template's words before "{}" (N_CTX_TEXT
    # must be their token count, 4 for "a photo of a"); False draws it from
    # N(0, 0.02^2) as the release does for 8 tokens.
    cfg.TRAINER.ADU.TEXT_CTX_INIT = False
    # Instance-wise Prompt Generator on/off, and the 1-based blocks whose
    # prompts it generates (each must be a prompted block).
    cfg.TRAINER.ADU.INSTAPG = True
    cfg.TRAINER.ADU.INSTAPG_LAYERS = [9]
    # InstaPG's residual arrangement: "pre_norm" (the paper's description) or
    # "release" (residual to the layer-normed query, post-norm, FFN + residual).
    cfg.TRAINER.ADU.INSTAPG_STYLE = "pre_norm"
    # Domain Disentangling Loss on/off and its two terms.
    cfg.TRAINER.ADU.DDL = True
    cfg.TRAINER.ADU.DDL_CE = True
    cfg.TRAINER.ADU.DDL_MMD = True
    # L_domain = DDL_GAMMA * CE - DDL_LAMBDA * MMD^2.
    cfg.TRAINER.ADU.DDL_GAMMA = 30.0
    cfg.TRAINER.ADU.DDL_LAMBDA = 10.0
    # RBF bandwidth of the MMD kernel: "median" (median heuristic, no
    # gradient) or a positive number given as a string, e.g. "0.5".
    cfg.TRAINER.ADU.MMD_BANDWIDTH = "median"
    # What the MMD compares: "embedding" (L2-normalised image embedding, the
    # paper) or "domain_logits" (the domain classifier's outputs, the release).
    cfg.TRAINER.ADU.MMD_INPUT = "embedding"
    # "batch_median": one kernel exp(-d^2/h) for the batch, h from MMD_BANDWIDTH
    # (the paper); "pair_median": per domain pair exp(-d^2/(2 sigma^2)), sigma the
    # median cross-pair distance, pairs with < 2 samples skipped (the release;
    # MMD_BANDWIDTH unused).
    cfg.TRAINER.ADU.MMD_KERNEL = "batch_median"
    # Loss on forget-domain samples: "uniform_ce" (cross-entropy to the
    # uniform distribution) or "neg_entropy" (the released code's variant).
    cfg.TRAINER.ADU.FORGET_LOSS = "uniform_ce"
    # The authors' release (docs/METHOD.md section 10), off in the paper:
    # neg_entropy computed as sum p log(p + eps) with this eps (release: 1e-5;
    # 0 is the exact log-softmax form).
    cfg.TRAINER.ADU.FORGET_LOG_EPS = 0.0
    # Outputs of the domain classifier: "domains" (one per domain, the paper)
    # or "domains_x_classes" (the release's #domains x #classes, trained on
    # the domain index; its domain accuracy is then not comparable).
    cfg.TRAINER.ADU.DOMAIN_HEAD = "domains"
    # Block 1's prompts pass through ln_pre with the patches (the release's
    # and MaPLe's order) instead of entering after it (the paper).
    cfg.TRAINER.ADU.PROMPTS_BEFORE_LN_PRE = False


# The comparison methods (docs/METHOD.md section 8). Each node is named after
# its trainer in capitals. PREC and FORGET_LOSS mean what they mean for ADU.

def add_zeroshot_clip_config(cfg):
    cfg.TRAINER.ZEROSHOTCLIP = CN()
    # Precision of the frozen CLIP (fp16, fp32 or amp; fp32 on a CPU).
    cfg.TRAINER.ZEROSHOTCLIP.PREC = "fp16"
    # Hand-written prompt of the zero-shot classifier.
    cfg.TRAINER.ZEROSHOTCLIP.TEXT_TEMPLATE = "a photo of a {}."


def add_coop_adu_config(cfg):
    cfg.TRAINER.COOPADU = CN()
    # Learned context vectors, shared by all classes (class token at the end).
    cfg.TRAINER.COOPADU.N_CTX = 16
    # Words whose embeddings start the context (its first N_CTX tokens), e.g.
    # "a photo of a" with N_CTX 4; "" draws the context from N(0, 0.02^2).
    cfg.TRAINER.COOPADU.CTX_INIT = ""
    cfg.TRAINER.COOPADU.PREC = "fp16"
    cfg.TRAINER.COOPADU.FORGET_LOSS = "uniform_ce"


def add_maple_adu_config(cfg):
    cfg.TRAINER.MAPLEADU = CN()
    # Context tokens per prompted block, in both encoders.
    cfg.TRAINER.MAPLEADU.N_CTX = 2
    # The prompt is CTX_INIT + " {class}."; its first N_CTX tokens become the
    # first block's learned text context, the rest stay words, so "a photo of
    # a" reads "[c1][c2] of a {class}." as in the MaPLe release ("" for
    # "[c1][c2] {class}." from N(0, 0.02^2)). Deeper blocks always start random.
    cfg.TRAINER.MAPLEADU.CTX_INIT = "a photo of a"
    # Leading transformer blocks of both encoders that get prompts.
    cfg.TRAINER.MAPLEADU.PROMPT_DEPTH = 9
    cfg.TRAINER.MAPLEADU.PREC = "fp16"
    cfg.TRAINER.MAPLEADU.FORGET_LOSS = "uniform_ce"


def add_lp_plus_plus_adu_config(cfg):
    # LP++ trains full-batch on image features extracted once, one step per
    # epoch (OPTIM.MAX_EPOCH, 300 in the release), with its own closed-form
    # step sizes: OPTIM's learning rate, schedule and weight decay are unused.
    cfg.TRAINER.LPPLUSPLUSADU = CN()
    # Template of the frozen text classifier the probe is blended with.
    cfg.TRAINER.LPPLUSPLUSADU.TEXT_TEMPLATE = "a photo of a {}."
    # The blending ratios take a step every ALPHA_EVERY epochs (10 in the release).
    cfg.TRAINER.LPPLUSPLUSADU.ALPHA_EVERY = 10
    cfg.TRAINER.LPPLUSPLUSADU.PREC = "fp16"
    cfg.TRAINER.LPPLUSPLUSADU.FORGET_LOSS = "uniform_ce"


def add_clipfit_adu_config(cfg):
    cfg.TRAINER.CLIPFITADU = CN()
    # Template of the class prompts (their features change with the biases).
    cfg.TRAINER.CLIPFITADU.TEXT_TEMPLATE = "a photo of a {}."
    # Which text-encoder FFN layer's bias is tuned: "c_fc" (first) or
    # "c_proj" (second, what the CLIPFit release tunes).
    cfg.TRAINER.CLIPFITADU.TEXT_BIAS = "c_proj"
    # Weight of CLIPFit's distillation term, 1 - mean cosine between the
    # tuned and the zero-shot class text features: 2 in the release's
    # few-shot runs (8 for DTD and SUN397); 0 turns it off.
    cfg.TRAINER.CLIPFITADU.DISTILL_WEIGHT = 2.0
    # amp or fp32 only: the tuned tensors live inside CLIP and stay fp32.
    cfg.TRAINER.CLIPFITADU.PREC = "amp"
    cfg.TRAINER.CLIPFITADU.FORGET_LOSS = "uniform_ce"


def add_bbf_adu_config(cfg):
    # BBF searches CMA-ES for TRAINER.BBFADU.ITERATIONS iterations, split
    # evenly over OPTIM.MAX_EPOCH Dassl epochs (the log, checkpoints and
    # --resume follow the epochs); OPTIM's optimiser settings are unused.
    # -1 below picks the BBF release's value for the dataset's class count:
    # up to 10 classes its CIFAR-10 settings (4 tokens, 20 + 5 latent, 400
    # iterations), otherwise 16 tokens and a 400 + 100 latent, with 400
    # iterations below 100 classes (ImageNet-30) and 800 from 100 classes on
    # (CIFAR-100, CUB-200, ImageNet).
    cfg.TRAINER.BBFADU = CN()
    # Context tokens of the prompt, each A [shared latent; own latent] + p0.
    cfg.TRAINER.BBFADU.N_CTX = -1
    # Latent Context Sharing: dimensions of the latent shared by all context
    # tokens and of each token's own latent (one CMA-ES searches the shared
    # latent, one each token's).
    cfg.TRAINER.BBFADU.SHARED_LATENT_DIM = -1
    cfg.TRAINER.BBFADU.UNIQUE_LATENT_DIM = -1
    # CMA-ES iterations (each scores POPSIZE candidates on every training shot).
    cfg.TRAINER.BBFADU.ITERATIONS = -1
    # CMA-ES population and initial step size (the release's 20 and 1).
    cfg.TRAINER.BBFADU.POPSIZE = 20
    cfg.TRAINER.BBFADU.SIGMA0 = 1.0
    # Held-out shots per (class, domain), drawn from the training pool apart
    # from the training shots, on which every candidate's H is measured; the
    # best candidate is the model. -1: as many as DATASET.NUM_SHOTS (the
    # release holds out as many as it trains on); 0: no selection, the model
    # is the final CMA-ES mean.
    cfg.TRAINER.BBFADU.VAL_SHOTS = -1
    # Seed of the fixed random projection A; -1 uses the run's SEED (0 when
    # unseeded). Saved in the checkpoints with the latent.
    cfg.TRAINER.BBFADU.PROJECTION_SEED = -1
    cfg.TRAINER.BBFADU.PREC = "fp16"
    cfg.TRAINER.BBFADU.FORGET_LOSS = "uniform_ce"


def add_loader_config(cfg):
    # The training loader (trainers/engine/shot_loader.py); False and False
    # are Dassl's loader. Keep the loader's workers between epochs instead
    # of starting them again every epoch (needs NUM_WORKERS > 0).
    cfg.DATALOADER.PERSISTENT_WORKERS = False
    # Decode each training image once, before training, and augment it from
    # memory every epoch (uint8, shrunk only as far as RandomResizedCrop
    # allows; about 1.2 GB for Office-Home's 2,080 shots of 512 x 384).
    cfg.DATALOADER.CACHE_SHOTS = False


def add_results_config(cfg):
    # Name of this run's method in results.json and the results tables
    # (default: the trainer's name), e.g. "ADU-no-InstaPG" for an ablation.
    cfg.TEST.METHOD_TAG = ""
    # Fit the linear probes of trainers/modules/probes.py (domain, forget-domain
    # classes) on the embeddings at test time, for trainers that expose them.
    cfg.TEST.LINEAR_PROBES = True


# The nodes of CoOp's train.py (KaiyangZhou/CoOp: COOP, COCOOP) and MaPLe's
# (muzairkhattak/multimodal-prompt-learning: MAPLE, IVLP, VPT), with those
# authors' defaults, so that their trainer files dropped into trainers/ find
# the keys they read and their yamls set.

def add_backbone_config(cfg):
    # A local folder with the Hugging Face tokenizer files of an open_clip
    # backbone whose tokenizer open_clip fetches from the hub at run time
    # (SigLIP, SigLIP 2: required for them, so that runs work offline); ""
    # takes open_clip's tokenizer of the architecture (docs/BACKBONES.md).
    cfg.MODEL.BACKBONE.TOKENIZER = ""


def add_coop_family_config(cfg):
    node = cfg.TRAINER.COOP = CN()
    node.N_CTX = 16                      # learned context tokens
    node.CSC = False                     # one context per class instead of a shared one
    node.CTX_INIT = ""                   # words that start the context ("" = random)
    node.PREC = "fp16"                   # fp16, fp32 or amp
    node.CLASS_TOKEN_POSITION = "end"    # class name at the "end", "middle" or "front"
    node = cfg.TRAINER.COCOOP = CN()
    node.N_CTX = 16                      # learned context tokens
    node.CTX_INIT = ""                   # words that start the context ("" = random)
    node.PREC = "fp16"                   # fp16, fp32 or amp
    node = cfg.TRAINER.MAPLE = CN()
    node.N_CTX = 2                       # context tokens per prompted block
    node.CTX_INIT = "a photo of a"       # words that start the first block's text context
    node.PREC = "fp16"                   # fp16, fp32 or amp
    node.PROMPT_DEPTH = 9                # prompted blocks, at most 12; 1 = shallow MaPLe
    node = cfg.TRAINER.IVLP = CN()       # independent V-L prompting (depths 0, 0: CoOp)
    node.N_CTX_VISION = 2                # context tokens of the image encoder
    node.N_CTX_TEXT = 2                  # context tokens of the text encoder
    node.CTX_INIT = "a photo of a"       # words that start the text context
    node.PREC = "fp16"                   # fp16, fp32 or amp
    node.PROMPT_DEPTH_VISION = 9         # prompted image blocks, at most 12
    node.PROMPT_DEPTH_TEXT = 9           # prompted text blocks, at most 12
    node = cfg.TRAINER.VPT = CN()        # prompts on the vision side only
    node.N_CTX_VISION = 2                # context tokens of the image encoder
    node.CTX_INIT = "a photo of a"       # words of the (fixed) text prompt
    node.PREC = "fp16"                   # fp16, fp32 or amp
    node.PROMPT_DEPTH_VISION = 1         # prompted image blocks; 1 = shallow prompting
    # Base-to-new generalisation in both codebases: "all", "base" or "new"
    # classes (read by their datasets, not by the ADU ones).
    cfg.DATASET.SUBSAMPLE_CLASSES = "all"


def extend_cfg(cfg):
    """Add every key the project's datasets and trainers read."""
    add_dataset_config(cfg)
    add_backbone_config(cfg)
    add_loader_config(cfg)
    add_results_config(cfg)
    add_adu_config(cfg)
    add_zeroshot_clip_config(cfg)
    add_coop_adu_config(cfg)
    add_maple_adu_config(cfg)
    add_lp_plus_plus_adu_config(cfg)
    add_clipfit_adu_config(cfg)
    add_bbf_adu_config(cfg)
    add_coop_family_config(cfg)
