"""P4Runtime, the controller's southbound protocol: generated code, typed P4Info,
entities, the wire encoding of Writes, errors, the client, and the P4 build."""
