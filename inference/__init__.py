"""AcousticSense inference: audio → log-mel → ViT → Top-K and attention, without Django."""
