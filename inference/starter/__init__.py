"""The starter model recipe: distil the musicnn teacher into the product's ViT on real music.

``pool`` fetches and unpacks the openly licensed recordings (Debian packages) and records each
file's licence; ``targets`` caches the teacher's soft targets and the student's features per
recording; ``distil`` trains and evaluates the student. The ``build_starter_model`` command runs
the steps in order and resumes where a previous run stopped. Nothing here imports Django.
"""
from pathlib import Path

STARTER_DIR = Path(__file__).resolve().parent
POOL_MANIFEST = STARTER_DIR / "pool.tsv"
STARTER_CHECKPOINT = STARTER_DIR / "acousticsense-starter-v1.safetensors"
STARTER_NAME = "starter-vit-tiny-v1"
