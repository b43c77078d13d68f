"""The latent sizes of G³AN (the paper): z_a ∈ R^128 per video, z_m ∈ R^10 per latent time step.
A module of its own, free of torch, so the config can validate latent dimensions against them."""

Z_APPEARANCE = 128
Z_MOTION = 10
