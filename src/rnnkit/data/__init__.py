"""Data sources, one module each. Nothing is downloaded: real data comes from installed packages."""
