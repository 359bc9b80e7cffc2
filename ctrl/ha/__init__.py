"""High availability: etcd (client, a process of our own), the election, shared state."""
