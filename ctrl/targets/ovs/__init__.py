"""The Open vSwitch target: mobility.p4 served over P4Runtime on an OVS bridge."""
