"""Privacy (AVG): export, deletion and retention."""
