"""``python -m interanimate.configs``: print the folder of the shipped presets and accelerate launch files."""

from interanimate.configs import CONFIGS_DIR

print(CONFIGS_DIR)
