"""Data: crops, training targets, datasets, augmentation, position maps."""
