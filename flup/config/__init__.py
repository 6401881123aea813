"""params.yaml, typed: ``load_config()`` reads and validates it once into a frozen :class:`Study`.

Stages call ``cfg = load_config()`` and hand typed sections (``cfg.render``, ``cfg.train_settings(name)``,
``cfg.attacker(name)``) to the library; a bad parameter raises :class:`ConfigError` naming
``params.yaml:<line>`` and the dotted key. ``run_stage(main, *argv)`` turns it into one line and exit status 2.
"""

from flup.config.loader import load_config, run_stage
from flup.config.params import ConfigError, ParamError
from flup.config.schema import Study

__all__ = ["ConfigError", "ParamError", "Study", "load_config", "run_stage"]
