"""Image sets on disk (downloads, mirrors, ImageNet samples, bundled photographs) and the
training batches made from them."""
