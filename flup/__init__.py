"""flup: does face obfuscation really hide who someone is? A reproducible study."""

__version__ = "0.1.0"
