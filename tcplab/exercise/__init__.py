"""Lab exercises: the catalog shipped in `labs/`, the kit lab checks are written with, and the checker
that runs a student's solution in a fresh testbed and observes the kernel independently of it."""
