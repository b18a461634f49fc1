#!/usr/bin/env bash
# A normal (non-editable) install, as users get it: build a wheel of this checkout, install it into a fresh
# virtual environment (torch pinned first), then, from outside the source tree, resolve a training preset and
# animate one short clip with the checkpoint that ships inside the package.
#
#   tools/check_wheel_install.sh [WORK_DIR]      (default: a new temporary folder; PYTHON picks the interpreter)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
WORK="${1:-$(mktemp -d)}"
mkdir -p "$WORK"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONUNBUFFERED=1

echo "== wheel: building from $ROOT"
"$PYTHON" -m venv "$WORK/build-env"
"$WORK/build-env/bin/python" -m pip install -q -c "$ROOT/constraints.txt" "setuptools>=77,<81" wheel
"$WORK/build-env/bin/python" -m pip wheel -q --no-deps --no-build-isolation -w "$WORK/dist" "$ROOT"
WHEEL="$(ls "$WORK"/dist/interanimate-*.whl)"
echo "built $(basename "$WHEEL")"

echo "== wheel: installing into $WORK/venv"
"$PYTHON" -m venv "$WORK/venv"
VPY="$WORK/venv/bin/python"
"$VPY" -m pip install -q --upgrade "pip>=24"
"$VPY" -m pip install -q -c "$ROOT/constraints.txt" torch==2.13.0
"$VPY" -m pip install -q -c "$ROOT/constraints.txt" "$WHEEL"

# Run from an empty folder, so nothing can come from the source tree.
cd "$WORK" && mkdir -p run && cd run
LOCATION="$("$VPY" -c 'import interanimate; print(interanimate.__file__)')"
echo "interanimate imported from $LOCATION"
case "$LOCATION" in "$WORK/venv/"*) ;; *) echo "error: not the wheel's copy" >&2; exit 1 ;; esac
CONFIGS="$("$VPY" -m interanimate.configs)"
echo "configs: $CONFIGS: $(cd "$CONFIGS" && echo *.yaml accelerate/*.yaml)"
IA="$WORK/venv/bin/interanimate"

"$IA" assets fetch --quiet
# A dry run resolves the preset and the stage plan; it only needs the data folder to exist.
mkdir -p "$WORK/data"
for preset in tiny small sd15; do
  extra=()
  [ "$preset" = sd15 ] && extra=(model.pretrained.sd_path="$WORK/sd15-not-needed-for-dry-run")
  "$IA" train --preset "$preset" --dry-run --data "$WORK/data" --out "$WORK/runs/$preset" "${extra[@]}" | tail -n 1
done

CHECKPOINT="$("$VPY" -c 'from interanimate.demo import default_checkpoint; print(default_checkpoint())')"
"$VPY" -c 'import sys, cv2; from skimage import data; cv2.imwrite(sys.argv[1], data.astronaut()[:, :, ::-1])' \
  astronaut.png
"$IA" animate --reference astronaut.png --pattern poke_nose --checkpoint "$CHECKPOINT" --frames 8 \
  --num-inference-steps 4 --out "$WORK/animate/poke_nose.mp4" --quiet
"$IA" provenance check "$WORK/animate/poke_nose.mp4"
# The default renderer without a checkpoint: the composite of the photo itself.
"$IA" animate --reference astronaut.png --pattern poke_nose --frames 8 --size 256 \
  --out "$WORK/animate/poke_nose-composite.mp4" --quiet
"$IA" provenance check "$WORK/animate/poke_nose-composite.mp4"
echo "== wheel install: ok ($WORK)"
