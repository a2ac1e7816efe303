"""partnerships domain."""
