"""The Super Neuron classifier: a scikit-learn-style estimator over one neuron (or a vote of several) and its
JSON artifact format (``artifact``)."""
from sn_core.classifier.estimator import (ARTIFACT_DTYPES, ARTIFACT_FORMAT, ARTIFACT_VERSION, ArtifactError, INT_HI,
    INT_LO, MAX_ARTIFACT_BYTES, MAX_INDEX, MB, META_KEYS, METRICS, NeuronScores, RULES, SuperNeuronClassifier,
    artifact_params, parse_neuron_id, predict_neurons, read_artifact_file, score_neurons, site_name,
    validate_artifact)

__all__ = ["ARTIFACT_DTYPES", "ARTIFACT_FORMAT", "ARTIFACT_VERSION", "ArtifactError", "INT_HI", "INT_LO",
           "MAX_ARTIFACT_BYTES", "MAX_INDEX", "MB", "META_KEYS", "METRICS", "NeuronScores", "RULES",
           "SuperNeuronClassifier", "artifact_params", "parse_neuron_id", "predict_neurons", "read_artifact_file",
           "score_neurons", "site_name", "validate_artifact"]
