"""From preferences to a better generator: a rectified-flow model of 2-D shapes (Swiss rolls
and S-curves), a simulated person who prefers S-curves and answers pairwise queries with the
DDM, a reward learned from those answers, and a copy of the generator fine-tuned with it."""
