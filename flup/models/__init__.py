"""The dual-stream models: the network (``model``), its training samples and their GPU feed (``sampling``,
``device_feed``), its loss and trainer (``trainer``, through flup.training's loop), and embedding with a trained
model, which makes it a recogniser of the scoring engine (``embedding``)."""
