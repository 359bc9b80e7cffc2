"""The lab: namespaces, switches and the controller from a YAML topology; the probe."""
