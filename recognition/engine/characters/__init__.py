"""Character stage: per-character preprocessing, networks, classifiers, datasets and metrics."""
