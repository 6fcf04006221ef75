"""srgan-repro: a reproducible replication of SRGAN (Ledig et al., CVPR 2017)."""

__version__ = "0.1.0"
