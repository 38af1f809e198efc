"""Model building, training, evaluation, tracking and prediction."""
