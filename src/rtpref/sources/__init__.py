"""Data sources: where pairs, their rewards and their features come from.

``synthetic`` draws the paper's simulated benchmark (Gaussian features, a random-MLP reward);
``demo`` draws image pairs with captions offline; ``pickapic`` streams the Pick-a-Pic dataset.
The two image sources write raw shards in the format of ``raw``, which the score and embed
rules turn into rewards and features.
"""
