"""G³AN networks. Import from the submodules: ``g3an.models.generator`` etc.

Every process that runs a network imports this package first, so MKL's vector-math kernels are
resolved here, on one thread, before any forward pass can race on them (``g3an.vector_math``)."""

from g3an.vector_math import resolve_kernels

resolve_kernels()
