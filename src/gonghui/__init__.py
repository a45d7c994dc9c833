"""Gonghui: a work platform for a multi-level trade-union federation."""
