"""Faces: the detector, the rule that picks *the* face of an image, verified model weights, the detection table."""
