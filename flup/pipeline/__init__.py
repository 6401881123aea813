"""The stage drivers: the only code that knows the Study config and the study's file layout (flup.config.paths)."""
