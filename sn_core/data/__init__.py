"""Tasks as (image, question, label): bundled generators, user manifests, stratified splits."""
from sn_core.data.manifest import ManifestError, load_image_folder, load_manifest
from sn_core.data.splits import Split, make_split, shuffled_labels
from sn_core.data.tasks import (DEFAULT_INSTRUCTION, TASK_KINDS, Example, Task, bundled_spec, bundled_task_names, get_task,
                              shifted_variant, task_fingerprint)

__all__ = ["DEFAULT_INSTRUCTION", "TASK_KINDS", "Example", "ManifestError", "Split", "Task", "bundled_spec",
           "bundled_task_names", "get_task", "load_image_folder", "load_manifest", "make_split",
           "shifted_variant", "shuffled_labels", "task_fingerprint"]
