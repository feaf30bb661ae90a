"""trio-tether."""
