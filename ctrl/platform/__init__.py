"""The host machine's networking: namespaces, veths, raw sockets."""
