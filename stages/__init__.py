"""Thin entry points, one per DVC stage, and the ``g3an-cli`` Typer app that wraps them."""
