"""Checks for lab 11 (the ISN): placeholder until the new kit is merged."""

from tcplab.exercise.kit import Checklist, Observation

checks = Checklist()


@checks.add("your SYNs reach the application's port", 1, hint="send a SYN")
def syn_sent(obs: Observation) -> bool:
    return bool(obs.kernel("SA"))
