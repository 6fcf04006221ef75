"""The paper's evaluation protocol and upscaling with a trained generator (tiled, any size)."""
