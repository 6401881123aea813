"""The obfuscation-aware ArcFace attackers: their training faces (``attack_data``), the embedding adapter
(``adapter``) and fine-tuned ArcFace (``arcface_torch``), training them through flup.training's loop
(``training``), a trained attacker as a recogniser of the scoring engine (``recognizer``), and the pieces of an
adapter's learning curve (``learning_curve``)."""
