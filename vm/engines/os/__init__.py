"""os: OS-level virtualization. The guest's text translated to C, compiled by the host's compiler and
run as a host process of its own, in the cage (vm/monitor/cage.py)."""
