"""What talks to the controller from above: the REST API and its client, and the
hypervisors (libvirt) whose migration events it follows."""
