"""The regional coordinator's dashboard: progress across a region's partnerships."""
