# Image sources (demo, pickapic): raw shards -> scores, embeddings. Filled in by the image path.
