"""G³AN networks. Import from the submodules: ``g3an.models.generator`` etc."""
