"""Learning stage: train character models, fine-tune them on corrections, retrain behind a gate."""
