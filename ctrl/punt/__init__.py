"""What switches punt to the controller (ARP, RARP, DHCP, LLDP), classified, and the
frames the controller sends back (proxy ARP replies, LLDP probes, GRE-wrapped frames)."""
