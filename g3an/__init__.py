"""G³AN: appearance/motion-disentangled video GAN (Wang et al., CVPR 2020), reimplemented.

Importing this package is cheap: torch is only imported by the submodules that need it.
"""

__version__ = "0.1.0"
