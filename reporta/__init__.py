"""Reporta's composition root: settings, the command line and the web application that mounts every room."""

__version__ = "0.1.0"
