"""Face verification, the scoring step: align and embed faces, score pairs, and the ROC statistics of a score table.

The stages that score (score_arcface, score_model, score_attacker, learning_curve) and the training stages'
validation run this package; flup/evaluation folds the score tables it writes into the study's metrics.
"""
