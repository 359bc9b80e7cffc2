"""The switches the controller drives: Open vSwitch behind a P4Runtime server of ours, and bmv2."""
