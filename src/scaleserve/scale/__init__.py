"""Starting, restarting and (later) scaling worker processes."""
