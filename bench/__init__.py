"""The suite's benchmark at scale: a generated cluster of 1k-50k pods, its cost as ratios to a raw list."""
