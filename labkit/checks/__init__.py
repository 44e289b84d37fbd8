"""Exercise checks: ``checks.check_<exercise>(student_function)`` in every notebook.

The course machinery, on top of the library and apart from it:

- :mod:`labkit.checks.engine`: the check engine (fresh inputs, a reference,
  diagnoses that each recognise one typical mistake; see its docstring to
  write a new check);
- :mod:`labkit.checks.claims`: ``checks.claim(...)``, the tutor-only checks
  that a notebook's prose is true of what it computed;
- one module per notebook, ``nbNN_<notebook>.py`` for ``solutions/NN_<notebook>.ipynb``,
  each importing only the engine (and, inside its checks, labkit's methods).

This file only re-exports, by name, what notebooks and tutors call.
"""
from labkit.checks.claims import ClaimFailed, claim, claims_hold
from labkit.checks.engine import (DEFAULT_DIAGNOSES, Case, CheckFailed, CheckResult, Diagnosis, Mismatch, add_hint,
                                  check_function, check_value, compare_values, matches)
from labkit.checks.nb00_start_here import check_saliency_from_gradients
from labkit.checks.nb01_feature_visualization import (check_gradient_ascent_step, check_normalize_filters,
                                                      check_top_k_images, check_total_variation)
from labkit.checks.nb02_feature_attribution import (check_cam_from_weights, check_occlusion_map, check_pointing_game,
                                                    check_saliency)
from labkit.checks.nb03_concepts import check_concept_activation_vector, check_is_significant, check_tcav_score
from labkit.checks.nb04_distillation_and_fairness import (check_approval_rate_by_group, check_fidelity,
                                                          check_flip_rate, check_surrogate_tree)
from labkit.checks.nb05_debug_the_tank_detector import (check_accuracy_by_group, check_energy_in_region,
                                                        check_swap_sky)

__all__ = [
    # the engine
    "CheckFailed", "Case", "Mismatch", "CheckResult", "Diagnosis", "check_function", "check_value",
    "compare_values", "matches", "add_hint", "DEFAULT_DIAGNOSES",
    # the prose's claims (tutor-only)
    "claim", "claims_hold", "ClaimFailed",
    # notebook 00
    "check_saliency_from_gradients",
    # notebook 01
    "check_normalize_filters", "check_top_k_images", "check_gradient_ascent_step", "check_total_variation",
    # notebook 02
    "check_saliency", "check_occlusion_map", "check_cam_from_weights", "check_pointing_game",
    # notebook 03
    "check_concept_activation_vector", "check_tcav_score", "check_is_significant",
    # notebook 04
    "check_fidelity", "check_surrogate_tree", "check_approval_rate_by_group", "check_flip_rate",
    # notebook 05
    "check_accuracy_by_group", "check_energy_in_region", "check_swap_sky",
]
