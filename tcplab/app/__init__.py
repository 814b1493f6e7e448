"""The kernel-side application: a small process in the kernel host that makes socket calls on command."""
