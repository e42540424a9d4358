"""The starter model recipe: distil the musicnn and YAMNet teachers into the product's ViT on real
music, plus synthetic labelled grooves.

``pool`` fetches and unpacks the openly licensed recordings (Debian packages) and records each
file's licence; ``grooves`` renders MMA grooves with known genres; ``targets`` caches the
teachers' outputs and the student's features per recording; ``distil`` trains and evaluates the
student. The ``build_starter_model`` command runs the steps in order and resumes where a
previous run stopped. Nothing here imports Django.
"""

from pathlib import Path

STARTER_DIR = Path(__file__).resolve().parent
POOL_MANIFEST = STARTER_DIR / "pool-v2.tsv"
STARTER_CHECKPOINT = STARTER_DIR / "acousticsense-starter-v2.safetensors"
STARTER_NAME = "starter-vit-tiny-v2"
# Earlier bundled starters: ensure_default_model upgrades one the system activated, and leaves
# one staff promoted where it is.
PREVIOUS_STARTER_NAMES = ("starter-vit-tiny-v1",)
