"""Grading a class: every submission in its own testbed and sandbox, scored from what the kernel did."""
