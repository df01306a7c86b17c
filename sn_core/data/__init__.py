"""Tasks as (image, question, label): bundled generators, user manifests, stratified splits."""
from .manifest import ManifestError, load_image_folder, load_manifest
from .splits import Split, make_split, shuffled_labels
from .tasks import (DEFAULT_INSTRUCTION, Example, Task, bundled_spec, bundled_task_names, get_task)

__all__ = ["DEFAULT_INSTRUCTION", "Example", "ManifestError", "Split", "Task", "bundled_spec",
           "bundled_task_names", "get_task", "load_image_folder", "load_manifest", "make_split",
           "shuffled_labels"]
