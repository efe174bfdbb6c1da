"""The autonomous experiment: candidates, surrogate, loop, record."""
