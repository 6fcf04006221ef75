"""Scores of an SR image against its HR image: PSNR and SSIM (the paper's), LPIPS and NIQE."""
