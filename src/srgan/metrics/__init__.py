"""Scores of an SR image against its HR image: PSNR and SSIM (the paper's), CIEDE2000 colour
difference (ours), LPIPS and NIQE."""
