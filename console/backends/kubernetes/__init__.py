"""Kubernetes contexts as places: the only package that imports the official `kubernetes` client."""
