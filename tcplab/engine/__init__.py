"""The engine: runs exchanges on a testbed and checks the kernel's answers against the model.

Pure modules (no scapy, pyroute2 or sockets; testable from recorded observations without root):
  seen      a segment the capture saw (Seen)
  check     findings: expected vs observed, why, the rule's source
  report    the ladder's rows (one class per kind) and the checks, as data and JSON
  scenario  the scenario files' schema, checked before anything runs
Drivers (they open sockets, enter namespaces, push what they see into a report):
  session   the testbed's sockets, capture and socket table
  target    a NAMESPACE:PORT resolved to a testbed
  handshake, probe, runner   `tcplab handshake`, `tcplab send`, `tcplab run`
The split is a contract in pyproject.toml ([tool.importlinter], run by `lint-imports`).
"""
