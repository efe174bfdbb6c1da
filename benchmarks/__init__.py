"""Benchmarks of autoscope: offline policy benchmarks over recorded data (:mod:`benchmarks.bench`)."""
