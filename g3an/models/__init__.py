"""G³AN networks. Import from the submodules: ``g3an.models.generator`` etc.

Every process that runs one of these networks imports this package first, so MKL's vector-math
kernels are resolved here, on one thread, before a forward pass can race on them
(``g3an.vector_math``; the judge's module, ``g3an.metrics.evaluator``, does the same)."""

from g3an.vector_math import resolve_kernels

resolve_kernels()
