"""The paper's published numbers and settings (Ledig et al., CVPR 2017, arXiv 1609.04802v5).

Tables 1 and 2 of the paper as named constants: PSNR [dB], SSIM (the paper computed it with
the daala tools, see ``srgan.metrics.distortion.ssim_daala``) and MOS, per method and test
set, all at scale 4. The reports print these beside our numbers. ``PAPER_SETTINGS`` holds the
training settings the paper states, so the reports can list which ones a configuration departs
from.

This module imports only ``srgan.core.variants`` (for the variants' names; torch-free).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from srgan.core.variants import (
    BASELINES,
    SRGAN_MSE,
    SRGAN_VGG22,
    SRGAN_VGG54,
    SRRESNET_MSE,
    SRRESNET_VGG22,
    VARIANTS,
)

CITATION = (
    "Ledig et al., Photo-Realistic Single Image Super-Resolution Using a Generative "
    "Adversarial Network, CVPR 2017 (arXiv 1609.04802v5)"
)


#: The super-resolution factor r of every experiment (the config's ``scale`` may only be this).
SCALE = 4
#: Pixels removed from each border before PSNR and SSIM are computed (Section 4.1).
BORDER = 4


@dataclass(frozen=True)
class PaperScore:
    """One cell of the paper's tables: PSNR [dB], SSIM (daala's), mean opinion score."""

    psnr: float
    ssim: float
    mos: float


# --- Table 1: the content-loss study (x4) ---------------------------------------------------

#: The five models of Table 1, in the paper's column order (our variant names).
TABLE1_METHODS = tuple(VARIANTS)
#: Table 1 covers these test sets.
TABLE1_DATASETS = ("Set5", "Set14")

TABLE1: dict[str, dict[str, PaperScore]] = {
    SRRESNET_MSE: {
        "Set5": PaperScore(psnr=32.05, ssim=0.9019, mos=3.37),
        "Set14": PaperScore(psnr=28.49, ssim=0.8184, mos=2.98),
    },
    SRRESNET_VGG22: {
        "Set5": PaperScore(psnr=30.51, ssim=0.8803, mos=3.46),
        "Set14": PaperScore(psnr=27.19, ssim=0.7807, mos=3.15),
    },
    SRGAN_MSE: {
        "Set5": PaperScore(psnr=30.64, ssim=0.8701, mos=3.77),
        "Set14": PaperScore(psnr=26.92, ssim=0.7611, mos=3.43),
    },
    SRGAN_VGG22: {
        "Set5": PaperScore(psnr=29.84, ssim=0.8468, mos=3.78),
        "Set14": PaperScore(psnr=26.44, ssim=0.7518, mos=3.57),
    },
    SRGAN_VGG54: {
        "Set5": PaperScore(psnr=29.40, ssim=0.8472, mos=3.58),
        "Set14": PaperScore(psnr=26.02, ssim=0.7397, mos=3.72),
    },
}

# --- Table 2: comparison with the state of the art (x4) -------------------------------------

#: Table 2's columns in the paper's order (our names for the methods we run).
TABLE2_METHODS = (
    "nearest",
    "bicubic",
    "srcnn",
    "selfexsr",
    "drcn",
    "espcn",
    "srresnet",
    "srgan",
    "hr",
)
#: Table 2 covers these test sets.
TABLE2_DATASETS = ("Set5", "Set14", "BSD100")
#: The Table 2 methods this project reproduces, and the model (eval JSON) that stands for each:
#: "SRResNet" in Table 2 is SRResNet-MSE, "SRGAN" is SRGAN-VGG54 (the paper, Section 4).
TABLE2_REPRODUCED = {
    "nearest": "nearest",
    "bicubic": "bicubic",
    "srresnet": SRRESNET_MSE,
    "srgan": SRGAN_VGG54,
}
#: Other papers' methods: Table 2 took them from their published outputs; we quote them.
TABLE2_QUOTED = ("srcnn", "selfexsr", "drcn", "espcn")
#: The HR originals: PSNR is infinite, SSIM 1; only their MOS is informative.
TABLE2_REFERENCE = ("hr",)

TABLE2: dict[str, dict[str, PaperScore]] = {
    "nearest": {
        "Set5": PaperScore(psnr=26.26, ssim=0.7552, mos=1.28),
        "Set14": PaperScore(psnr=24.64, ssim=0.7100, mos=1.20),
        "BSD100": PaperScore(psnr=25.02, ssim=0.6606, mos=1.11),
    },
    "bicubic": {
        "Set5": PaperScore(psnr=28.43, ssim=0.8211, mos=1.97),
        "Set14": PaperScore(psnr=25.99, ssim=0.7486, mos=1.80),
        "BSD100": PaperScore(psnr=25.94, ssim=0.6935, mos=1.47),
    },
    "srcnn": {
        "Set5": PaperScore(psnr=30.07, ssim=0.8627, mos=2.57),
        "Set14": PaperScore(psnr=27.18, ssim=0.7861, mos=2.26),
        "BSD100": PaperScore(psnr=26.68, ssim=0.7291, mos=1.87),
    },
    "selfexsr": {
        "Set5": PaperScore(psnr=30.33, ssim=0.872, mos=2.65),
        "Set14": PaperScore(psnr=27.45, ssim=0.7972, mos=2.34),
        "BSD100": PaperScore(psnr=26.83, ssim=0.7387, mos=1.89),
    },
    "drcn": {
        "Set5": PaperScore(psnr=31.52, ssim=0.8938, mos=3.26),
        "Set14": PaperScore(psnr=28.02, ssim=0.8074, mos=2.84),
        "BSD100": PaperScore(psnr=27.21, ssim=0.7493, mos=2.12),
    },
    "espcn": {
        "Set5": PaperScore(psnr=30.76, ssim=0.8784, mos=2.89),
        "Set14": PaperScore(psnr=27.66, ssim=0.8004, mos=2.52),
        "BSD100": PaperScore(psnr=27.02, ssim=0.7442, mos=2.01),
    },
    "srresnet": {
        "Set5": PaperScore(psnr=32.05, ssim=0.9019, mos=3.37),
        "Set14": PaperScore(psnr=28.49, ssim=0.8184, mos=2.98),
        "BSD100": PaperScore(psnr=27.58, ssim=0.7620, mos=2.29),
    },
    "srgan": {
        "Set5": PaperScore(psnr=29.40, ssim=0.8472, mos=3.58),
        "Set14": PaperScore(psnr=26.02, ssim=0.7397, mos=3.72),
        "BSD100": PaperScore(psnr=25.16, ssim=0.6688, mos=3.56),
    },
    "hr": {
        "Set5": PaperScore(psnr=math.inf, ssim=1.0, mos=4.32),
        "Set14": PaperScore(psnr=math.inf, ssim=1.0, mos=4.32),
        "BSD100": PaperScore(psnr=math.inf, ssim=1.0, mos=4.46),
    },
}

#: How the paper (and the reports) name each method.
LABELS = {
    "nearest": "NN",
    "bicubic": "Bicubic",
    "srcnn": "SRCNN",
    "selfexsr": "SelfExSR",
    "drcn": "DRCN",
    "espcn": "ESPCN",
    "srresnet": "SRResNet",
    "srgan": "SRGAN",
    "hr": "HR",
    **{v.name: v.label for v in VARIANTS.values()},
}

#: Every method this project evaluates (one results/eval/<method>.json each).
OUR_METHODS = (*BASELINES, *TABLE1_METHODS)

# --- the training settings the paper states ---------------------------------------------------


@dataclass(frozen=True)
class PaperSetting:
    """A setting the paper states (``value``), at a dotted key of params.yaml."""

    key: str
    value: Any
    what: str


#: Number of ImageNet images the paper trained on (only meaningful with data.train_set ImageNet).
IMAGENET_SAMPLES = 350_000
#: The paper's models (Figure 4): residual blocks B, feature maps, the discriminator's convolutions
#: (channels and strides) and its dense layer, trained on HR crops of this size, in mini-batches.
RESIDUAL_BLOCKS = 16
FEATURE_CHANNELS = 64
DISCRIMINATOR_CHANNELS = [64, 64, 128, 128, 256, 256, 512, 512]
DISCRIMINATOR_STRIDES = [1, 2, 1, 2, 1, 2, 1, 2]
DISCRIMINATOR_DENSE = 1024
HR_CROP = 96
BATCH_SIZE = 16
#: The losses (equations 3-6, Section 3.4): l_SR = content + 1e-3 adversarial; VGG feature maps
#: divided by 12.75; SRResNet-VGG22 adds a total-variation loss of weight 2e-8.
ADVERSARIAL_WEIGHT = 1e-3
VGG_DIVISOR = 12.75
TV_WEIGHT = 2e-8
#: The schedules (Section 3.2): SRResNet 1e6 iterations at 1e-4; SRGAN 1e5 at 1e-4 then 1e5 at
#: 1e-5, k = 1 discriminator update per generator update; Adam with beta1 = 0.9.
SRRESNET_STEPS, SRRESNET_LR = 1_000_000, 1e-4
SRGAN_STEPS, SRGAN_LR, SRGAN_LR_DECAY_STEP, SRGAN_LR_DECAY = 200_000, 1e-4, 100_000, 0.1
DISCRIMINATOR_STEPS = 1
ADAM_BETA1 = 0.9

#: Settings the paper states; a configuration that differs from one of them is a deviation.
PAPER_SETTINGS = (
    PaperSetting("data.train_set", "ImageNet", "training set: 350 thousand ImageNet images"),
    PaperSetting("data.crop_size", HR_CROP, "HR crop size 96x96"),
    PaperSetting("data.batch_size", BATCH_SIZE, "mini-batch of 16 crops"),
    PaperSetting("model.blocks", RESIDUAL_BLOCKS, "16 residual blocks"),
    PaperSetting("model.channels", FEATURE_CHANNELS, "64 feature maps"),
    PaperSetting("model.long_skip", True, "long skip connection"),
    PaperSetting(
        "discriminator.channels", DISCRIMINATOR_CHANNELS, "discriminator channels 64..512"
    ),
    PaperSetting("discriminator.strides", DISCRIMINATOR_STRIDES, "discriminator strides"),
    PaperSetting("discriminator.dense", DISCRIMINATOR_DENSE, "discriminator Dense(1024)"),
    PaperSetting("vgg.weights", "imagenet", "VGG19 pretrained on ImageNet"),
    PaperSetting("loss.adversarial_weight", ADVERSARIAL_WEIGHT, "adversarial weight 1e-3"),
    PaperSetting("loss.vgg_divisor", VGG_DIVISOR, "VGG feature maps rescaled by 1/12.75"),
    PaperSetting("loss.tv_weight", TV_WEIGHT, "TV weight 2e-8 (SRResNet-VGG22)"),
    PaperSetting("train.srresnet.steps", SRRESNET_STEPS, "SRResNet: 1e6 iterations"),
    PaperSetting("train.srresnet.lr", SRRESNET_LR, "SRResNet: learning rate 1e-4"),
    PaperSetting("train.srresnet.lr_decay_step", 0, "SRResNet: a constant learning rate"),
    PaperSetting("train.srgan.steps", SRGAN_STEPS, "SRGAN: 2e5 iterations"),
    PaperSetting("train.srgan.lr", SRGAN_LR, "SRGAN: learning rate 1e-4"),
    PaperSetting(
        "train.srgan.lr_decay_step", SRGAN_LR_DECAY_STEP, "SRGAN: learning rate drop after 1e5"
    ),
    PaperSetting("train.srgan.lr_decay", SRGAN_LR_DECAY, "SRGAN: learning rate drop to 1e-5"),
    PaperSetting(
        "train.srgan.d_steps",
        DISCRIMINATOR_STEPS,
        "k = 1 discriminator update per generator update",
    ),
    PaperSetting("train.adam_beta1", ADAM_BETA1, "Adam beta1 = 0.9"),
)

#: Settings the paper leaves open (docs/deviations.md): the
#: reports name the choice made.
OPEN_POINTS = {
    "vgg.normalization": "VGG input normalisation",
    "model.prelu": "PReLU slopes (shared or per channel)",
    "train.adam_beta2": "Adam beta2",
}
