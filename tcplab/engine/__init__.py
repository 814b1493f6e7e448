"""The engine: runs exchanges on a lab and checks the kernel's answers against the model."""
