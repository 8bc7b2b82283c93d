"""Pure health, alert and recommendation rules over plain numbers and configured Thresholds."""
