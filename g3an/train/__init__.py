"""Training: ``step.py`` (one GAN iteration), ``checkpoint.py``, ``distributed.py``, ``loop.py`` (fit)."""
