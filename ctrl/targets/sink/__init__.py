"""The sink target: P4Runtime for every switch of a topology, entries kept, nothing forwarded
(for the controller at a scale the lab's namespaces cannot reach)."""
