"""Entry points: the CLI, the run targets and the bootstrap that wires services together."""
