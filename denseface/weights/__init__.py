"""Package data: the shipped model files (see denseface.models.registry for what they are)."""
