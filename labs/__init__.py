"""The labs (data): each folder is one lab; see tcplab.exercise.catalog."""
