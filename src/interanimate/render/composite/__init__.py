"""The composite renderer: the reference photo itself, warped by head motion and contact, with a posed 3-D hand.

``render_composite`` renders one pattern clip (frames + exact labels), ``render_driven`` one driven by a video's
retargeted motion; ``CompositePipeline`` is the ``animate`` pipeline
around it (same requests, results and files as the model's ``AnimatePipeline``).
"""

from interanimate.render.composite.pipeline import CompositePipeline
from interanimate.render.composite.renderer import ORIGIN, CompositeClip, render_composite, render_driven

__all__ = ["ORIGIN", "CompositeClip", "CompositePipeline", "render_composite", "render_driven"]
