"""The parts of an ``InterAnimateModel``, in saving order.

A module of its own, free of torch, so that configuration (which validates part names) can import it without
loading the models.
"""

MODEL_PARTS = ("vae", "reference_net", "unet", "pose_guider", "interaction", "id_preserver")
