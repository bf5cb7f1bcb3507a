"""One module per `slamon` command (group); each exposes `command`."""
