"""Grading a class: every submission in its own lab and sandbox, scored from what the kernel did."""
