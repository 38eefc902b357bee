"""Bias audits: association tests, bias directions, retrieval exposure, and a saved debiasing step."""

from embedlab.bias.association import (
    AssociationResult,
    AssociationTest,
    load_association_test,
    load_association_tests,
    seat_sets,
    weat,
)
from embedlab.bias.audit import AuditInputs, BiasAudit, audit_model, load_audit_inputs, write_audit
from embedlab.bias.direction import (
    BiasSubspace,
    bias_direction,
    debias_model,
    load_pairs_file,
    load_words_file,
    project,
)
from embedlab.bias.exposure import ExposureResult, load_exposure_documents, retrieval_exposure

__all__ = [
    "AssociationResult",
    "AssociationTest",
    "AuditInputs",
    "BiasAudit",
    "BiasSubspace",
    "ExposureResult",
    "audit_model",
    "bias_direction",
    "debias_model",
    "load_association_test",
    "load_association_tests",
    "load_audit_inputs",
    "load_exposure_documents",
    "load_pairs_file",
    "load_words_file",
    "project",
    "retrieval_exposure",
    "seat_sets",
    "weat",
    "write_audit",
]
