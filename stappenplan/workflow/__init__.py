"""The 8-step plan: its versioned definition and the pure workflow engine."""
