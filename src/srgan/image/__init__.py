"""Image operations: MATLAB-compatible bicubic resize, pixel values and colour, image files."""
