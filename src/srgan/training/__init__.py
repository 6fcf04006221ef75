"""Training a variant: one step (eager or one CUDA graph), the run around it (resume, signals,
checkpoints) and its log."""
