"""Obfuscation: the families and their levels, the obfuscations, and the rendered stores every scorer reads."""
