"""The sandbox for graded solutions: control groups, the jail and the zygote that starts it."""
