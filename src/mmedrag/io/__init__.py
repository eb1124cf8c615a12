"""Reading and writing data: images, manifests and the dataset readers."""
