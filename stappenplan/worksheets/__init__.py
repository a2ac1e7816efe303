"""Worksheets: answers to the plan's questions, their history and comments."""
