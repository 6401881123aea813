"""The training machinery every trained recogniser shares: the dual-stream models (flup.models) and the attackers
(flup.attack) train through it. Nothing here knows a model, the study's config or its file layout.

- ``loop``: the one training loop (:func:`~flup.training.loop.fit`), the optimiser step, the training device;
- ``checkpoint``: resumable checkpoints with the random generators' states;
- ``weight_files``: safetensors weights written atomically, weight files read without unpickling;
- ``holdout``: the seeded split of identities into training and validation, and validation pairs;
- ``distributed``, ``sharding``, ``data_parallel``, ``sync_norm``: data-parallel training under torchrun.
"""
