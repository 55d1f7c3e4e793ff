"""The HTTP surface: the only part that turns errors into responses."""
