"""Build G, D_V and D_I from the typed config (the only place models meet ``ModelConfig``)."""

from __future__ import annotations

from g3an.config import LoaderConfig, ModelConfig
from g3an.errors import UserError
from g3an.latent import Z_APPEARANCE, Z_MOTION
from g3an.models.discriminators import ImageDiscriminator, PairDiscriminator, VideoDiscriminator
from g3an.models.generator import G3Spec, Generator
from g3an.persistence import load_artifact


def generator_spec(model: ModelConfig, n_classes: int = 0) -> G3Spec:
    return G3Spec(preset=model.preset, width=model.width, size=model.size, video_mode=model.video_mode,
                  attention=model.attention, attention_after=model.attention_after,
                  attention_init=model.attention_init,
                  spectral_norm=model.g_spectral_norm, n_classes=n_classes,
                  cond_appearance=model.cond_appearance)


def build_models(model: ModelConfig, loader: LoaderConfig, n_classes: int = 0, motion_code: bool = False,
                 class_head: bool = False, appearance_code: bool = False):
    """(G, D_V, D_I, T_z) for clips of ``loader.clip_length`` frames at ``model.size`` pixels;
    ``motion_code``: D_V gets a head that reads z_m back (``train.zm_info``); ``class_head``: one that
    reads the class (``train.class_head``); ``appearance_code``: D_I gets one that reads z_a back
    (``train.za_info``)."""
    spec = generator_spec(model, n_classes)
    tz = spec.latent_length(loader.clip_length)
    g = Generator(spec)
    d_v = VideoDiscriminator(loader.clip_length, model.size, model.discriminator_width, model.d_video_mode, n_classes,
                             Z_MOTION * tz if motion_code else 0, mbstd=model.d_mbstd if model.d_mbstd_video else 0,
                             class_head=class_head, frame_diff=model.d_frame_diff)
    d_i = ImageDiscriminator(model.size, model.discriminator_width, n_classes, mbstd=model.d_mbstd,
                             appearance_code=Z_APPEARANCE if appearance_code else 0)
    return g, d_v, d_i, tz


def build_pair_discriminator(model: ModelConfig) -> PairDiscriminator:
    """D_P (``train.pair_d``) at the discriminators' width, with D_I's minibatch std (``model.d_mbstd``)."""
    return PairDiscriminator(model.size, model.discriminator_width, mbstd=model.d_mbstd)


def load_generator(path, model: ModelConfig | None = None, use_ema: bool = True, device="cpu"):
    """Rebuild G from a ``generator.pt`` export (weights_only); returns (G in eval mode, export dict).

    With ``model`` given, the export must match its preset, width and size: a mismatch is a one-line
    UserError naming the file and what was expected.
    """
    blob = load_artifact(path, "generator")
    spec = G3Spec(**blob["spec"])
    if model is not None and (spec.preset, spec.width, spec.size) != (model.preset, model.width, model.size):
        raise UserError(f"{path}: trained with preset={spec.preset} width={spec.width} size={spec.size}, "
                        f"but params expect preset={model.preset} width={model.width} size={model.size}; "
                        "retrain or set model.* to match")
    g = Generator(spec)
    weights = blob["ema"] if use_ema and blob.get("ema") is not None else blob["g"]
    try:
        g.load_state_dict(weights)
    except RuntimeError as e:
        raise UserError(f"{path}: weights do not fit preset={spec.preset} width={spec.width} "
                        f"conditional={bool(spec.n_classes)} ({str(e).splitlines()[0]})") from None
    return g.to(device).eval(), blob
