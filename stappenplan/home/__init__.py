"""The start page of each role: partnerships that wait on you, search and filters."""
