"""Compute nodes: they stay on the old release through the cutover, follow the control
plane to the new side's bus (`follow`), and are upgraded one batch at a time later."""
