"""The samenwerkingsplan: one cycle of a partnership as one printable document."""
