"""The pure TCP model: states, sequence arithmetic, segments and the rules for the kernel's answers.

Nothing here does I/O, reads a clock or draws a random number; time and ISNs come in as arguments.
"""
