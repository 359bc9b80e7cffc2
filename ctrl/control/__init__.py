"""The control plane: where hosts are, the paths between switches, what each switch should
hold, the migration lifecycle, and the runner that writes it to the switches."""
