"""Concepts and distillation measured on the shipped zoo models: the lecture's stories in numbers.

    python -m benchmarks.tcav_table            # writes benchmarks/results/tcav.md
    python -m benchmarks.tcav_table --quick    # fewer CAVs and rows, writes tcav_quick.md

1. TCAV (Kim et al. 2018) for the ``fire_engines`` model (trained on
   Melbourne: red fire engines) and the fire_engine class, at conv3, conv4
   and gap, for colour, texture and weather concepts and a "random" concept
   (a calibration check); a second seed for stability; and a diagnostic of
   what the concept sets contain besides their concept (red pixels, and how
   far each concept's direction at gap agrees with red's).
2. TCAV for the ``tanks`` model (the urban legend) and the tank class.
3. The bank-loan model: surrogate trees of growing depth (fidelity on held-out
   applicants), the depth-3 tree, a linear surrogate, approval rates by sex
   and race (raw and at matched merit), permutation importance, the
   counterfactual flip test, and SHAP and LIME for one declined applicant.
4. Knowledge distillation (Hinton et al. 2015) of the ``digits`` model into a
   4x smaller student, soft targets against hard labels.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from benchmarks.common import replace_section

RESULTS = Path(__file__).resolve().parent / "results"
FIRE_CONCEPTS = ("red", "yellow", "dots", "stripes", "checker", "cloudy", "random")
TANK_CONCEPTS = ("cloudy", "sunny", "grass", "dots", "random")
LAYERS = ("conv3", "conv4", "gap")


def _red_share(images: np.ndarray) -> float:
    """Share of clearly red pixels (R > 0.6, G and B < 0.35)."""
    r, g, b = images[..., 0], images[..., 1], images[..., 2]
    return float(np.mean((r > 0.6) & (g < 0.35) & (b < 0.35)))


def concept_diagnostics(model, concepts, n: int, reference: str, *, red_pixels: bool = False) -> str:
    """What each concept set holds besides its concept, and what the model itself says about it.

    Columns: the share of red pixels (fire engines); at gap, the cosine
    between the concept's mean-activation shift from the random images and
    the reference concept's; and the model's class margin (logit_class -
    logit_other) on the concept images minus on random images.
    """
    from labkit import datasets
    from labkit.layers import activations

    random = np.concatenate([datasets.concept_images("random", n, seed=s) for s in (901, 902)])
    gap_random, logits_random = activations(model, random, ["gap", "logits"])
    sets = {concept: datasets.concept_images(concept, n, seed=900) for concept in concepts}
    shifts, margins = {}, {}
    for concept, images in sets.items():
        gap, logits = activations(model, images, ["gap", "logits"])
        shifts[concept] = gap.mean(axis=0) - gap_random.mean(axis=0)  # (64,)
        margin, margin_random = logits[:, 1] - logits[:, 0], logits_random[:, 1] - logits_random[:, 0]
        margins[concept] = float(margin.mean() - margin_random.mean())
    red = "red pixels | " if red_pixels else ""
    lines = [f"| concept set | {red}cos(shift, {reference}'s shift) at gap | class margin: concept set - random |",
             "|---|---|---|" + ("---|" if red_pixels else "")]
    for concept, d in shifts.items():
        ref = shifts[reference]
        cos = float(d @ ref / np.linalg.norm(d) / np.linalg.norm(ref))
        share = f"{_red_share(sets[concept]):.3f} | " if red_pixels else ""
        lines.append(f"| {concept} | {share}{cos:+.2f} | {margins[concept]:+.2f} |")
    if red_pixels:
        lines.append(f"| (random sets) | {_red_share(random):.3f} | | |")
    return "\n".join(lines)


FIRE_NOTE = (
    "Reading the fire-engine tables: \"random\" is the calibration check (a concept that is no concept). "
    "Where only linear maps follow the layer (conv4, gap: global average pooling and the dense logits) the "
    "gradient is the same for every image, so each CAV scores exactly 0 or 1 and the test asks how consistently "
    "the CAVs point one way. TCAV measures the direction concept minus random, with everything else the concept "
    "images have more or less of: the sky-only \"cloudy\" images hold none of the red or orange objects the "
    "random sets sometimes show (their shift at gap points away from red's). The texture sets are the random "
    "sets' scenes with the texture fixed, so they differ from them in texture only: the model has no direction "
    "for it (CAV accuracy ~0.5) and TCAV finds nothing. (Drawn as whole-image textures in random colours, as in "
    "an earlier version, they held four times the random sets' red and came out significant.) Shift = mean "
    "gap activations of the concept set minus those of random images; class margin = logit_fire_engine - "
    "logit_other_vehicle, averaged.")
TANK_NOTE = (
    "Reading the tank tables: the model's margin (logit_tank - logit_no_tank) is far higher on cloudy skies than "
    "on sunny ones, the shortcut it learned. Against the random sets (objects on sunny, cloudy, grass or noise "
    "backgrounds) the picture at gap is subtler: the cloudy CAVs point towards tank although the model rates "
    "cloudy-sky images slightly *less* tank-like than random images. A CAV is the direction that best "
    "*separates* the two sets "
    "(a logistic regression), not their mean difference; the two can disagree, and both depend on what the "
    "random sets contain.")


def tcav_section(quick: bool) -> tuple[list[str], dict]:
    from labkit import datasets, zoo
    from labkit.tcav import tcav

    n_random, n_concept = (6, 30) if quick else (20, 50)
    out, timings = [], {}
    fire = zoo.load("fire_engines")
    data = datasets.toy_world("fire_engines", "melbourne", 300, seed=1)
    engines = data.images[data.labels == 1]
    for seed in (0,) if quick else (0, 1):
        start = time.perf_counter()
        result = tcav(fire, LAYERS, 1, FIRE_CONCEPTS, engines, n_random=n_random, n_concept=n_concept, seed=seed)
        timings[f"fire_engines seed {seed}"] = time.perf_counter() - start
        out += [f"### fire_engines model, class fire_engine, seed {seed}", "",
                f"{len(engines)} Melbourne fire engines (toy_world seed 1); {n_random} CAVs per concept and "
                f"{n_random} random CAVs per layer, {n_concept} images per set; alpha 0.05 after Bonferroni "
                f"over {result.n_tests} tests. TCAV score = mean +- std over the CAVs; CAV accuracy = mean "
                f"held-out accuracy of the concept's CAVs.", "", result.to_markdown(), ""]
        print(out[-2], flush=True)
    out += ["### What the concept sets hold besides their concept (fire_engines model)", "",
            concept_diagnostics(fire, FIRE_CONCEPTS, n_concept, "red", red_pixels=True), "", FIRE_NOTE, ""]
    print("\n".join(out[-4:]), flush=True)
    tanks = zoo.load("tanks")
    data = datasets.toy_world("tanks", "test", 300, seed=1)
    tank_images = data.images[data.labels == 1]
    start = time.perf_counter()
    result = tcav(tanks, LAYERS, 1, TANK_CONCEPTS, tank_images, n_random=n_random, n_concept=n_concept, seed=0)
    timings["tanks seed 0"] = time.perf_counter() - start
    out += ["### tanks model, class tank, seed 0", "",
            f"{len(tank_images)} tank photos from the independent-weather test split (toy_world seed 1).", "",
            result.to_markdown(), "", "What the concept sets hold besides their concept (tanks model):", "",
            concept_diagnostics(tanks, TANK_CONCEPTS, n_concept, "cloudy"), "", TANK_NOTE, ""]
    print("\n".join(out[-9:]), flush=True)
    return out, timings


def _rates_table(title: str, rows_by_source: dict) -> list[str]:
    lines = [f"| {title} | " + " | ".join(f"{s} rate | {s} at matched merit" for s in rows_by_source) + " | n |",
             "|---|" + "---|---|" * len(rows_by_source) + "---|"]
    sources = list(rows_by_source.values())
    for i, row in enumerate(sources[0]):
        cells = " | ".join(f"{rows[i].rate:.3f} | {rows[i].matched_rate:.3f}" for rows in sources)
        lines.append(f"| {row.group} | {cells} | {row.n} |")
    return lines


def loan_section(quick: bool) -> list[str]:
    from labkit import datasets, distill, fairness, zoo

    model = zoo.load("loan")
    train = datasets.loan_table("train", 2000 if quick else 8000, seed=5)
    test = datasets.loan_table("test", 1000 if quick else 4000, seed=1)
    names = test.feature_names
    common = dict(feature_names=names, class_names=("declined", "approved"), X_test=test.X, y_test=test.y)
    out = ["## The bank-loan model", "",
           f"Surrogates fitted to the model's decisions on {len(train)} training-distribution applicants "
           f"(loan_table train, seed 5), measured on {len(test)} held-out applicants (test, seed 1).", "",
           "| surrogate | fidelity (agreement with the model) | accuracy vs labels | leaves |", "|---|---|---|---|"]
    trees = {}
    for depth in (1, 2, 3, 4, 6, 9):
        trees[depth] = distill.surrogate_tree(model, train.X, train.y, max_depth=depth, **common)
        s = trees[depth]
        out.append(f"| tree, depth {depth} | {s.fidelity:.3f} | {s.accuracy:.3f} | {s.tree.get_n_leaves()} |")
    linear = distill.surrogate_linear(model, train.X, train.y, **common)
    out.append(f"| logistic regression (C=0.1) | {linear.fidelity:.3f} | {linear.accuracy:.3f} | |")
    out += ["", f"The model itself: accuracy {trees[3].model_accuracy:.3f} on the same held-out applicants.", ""]
    tree = trees[3]
    importance = sorted(zip(tree.tree.feature_importances_, names), reverse=True)[:4]
    out += ["Depth-3 tree (features scaled as in `datasets.encode_loan`: education_num = (years - 10) / 2.6, "
            "age = (years - 42) / 13, hours_per_week = (hours - 40) / 12; `sex=female` is 0 or 1):",
            "", "```", tree.describe().rstrip(), "```", "",
            "Its feature importances: " + ", ".join(f"{n} {v:.2f}" for v, n in importance), "",
            "Linear surrogate, largest weights (log-odds of approval per unit):", "", "```",
            "\n".join(linear.describe().splitlines()[:8]), "```", ""]
    decisions = distill.predict_classes(model, test.X)
    for column in ("sex", "race"):
        out += _rates_table(column, {
            "model": fairness.group_rates(decisions, test.raw[column], merit=test.merit),
            "historical labels": fairness.group_rates(test.y, test.raw[column], merit=test.merit)})
        out.append("")
    importances = fairness.permutation_importance(model, test.X, feature_names=names, n_repeats=5 if quick else 10)
    out += ["Permutation importance (share of the model's decisions that change when a variable's columns are "
            "shuffled; one-hot columns shuffled together): "
            + ", ".join(f"{r.feature} {r.mean:.3f}" for r in importances), ""]
    for column in ("sex=female", "race=white"):
        f = fairness.flip_test(model, test.X, column, feature_names=names)
        out.append(f"Flip test `{column}`: {f.changed} of {f.n} decisions change ({f.changed / f.n:.1%}); "
                   f"rows with {column}=1: {f.by_value[1]['gained']} gained, {f.by_value[1]['lost']} lost of "
                   f"{f.by_value[1]['n']}; rows with 0: {f.by_value[0]['gained']} gained, "
                   f"{f.by_value[0]['lost']} lost of {f.by_value[0]['n']}.")
    out.append("")
    out += local_explanations(model, test, train, decisions)
    return out


def local_explanations(model, test, train, decisions) -> list[str]:
    """SHAP and LIME for the most qualified declined woman whom the flip test would approve as a man."""
    from labkit import distill, fairness

    names = test.feature_names
    flipped = test.X.copy()
    column = names.index("sex=female")
    flipped[:, column] = 1 - flipped[:, column]
    as_man = distill.predict_classes(model, flipped)
    candidates = np.where((decisions == 0) & (test.raw["sex"] == "female") & (as_man == 1))[0]
    i = int(candidates[np.argmax(test.merit[candidates])])
    applicant = ", ".join(f"{k}={v}" for k, v in ((k, test.raw[k][i]) for k in test.raw))
    out = [f"Local explanation for applicant {i} of the test table ({applicant}): declined, approved with "
           f"sex flipped. Background: 100 training applicants.", ""]
    for method in ("shap", "lime"):
        start = time.perf_counter()
        e = fairness.explain_applicant(model, test.X[i], train.X[:100], feature_names=names, method=method)
        seconds = time.perf_counter() - start
        what = ("log-odds of approval" if method == "shap" else "probability of approval")
        parts = ", ".join(f"{c.feature}: {c.contribution:+.2f}" for c in e.contributions[:6])
        out.append(f"- {method.upper()} ({seconds:.1f} s): {what} {e.prediction:.2f} (base {e.base:.2f}); "
                   f"top contributions: {parts}")
    return out + [""]


def distillation_section(quick: bool) -> list[str]:
    from labkit import datasets, distill, zoo

    teacher = zoo.load("digits")
    train_all, test = datasets.digits("train"), datasets.digits("test")
    teacher_accuracy = np.mean(distill.predict_classes(teacher, test.images) == test.labels)
    out = ["## Knowledge distillation of the digits model", "",
           f"Teacher `digits` ({teacher.count_params()} weights): test accuracy {teacher_accuracy:.3f}. Students: "
           f"`zoo.build_cnn` with widths (8, 16, 16), trained 20 epochs on 500 training digits, on the "
           f"teacher's soft targets (T = 4) or on the hard labels.", "",
           "| seed | student | weights | test accuracy | agreement with teacher | seconds |",
           "|---|---|---|---|---|---|"]
    for seed in (0,) if quick else (0, 1):
        subset = train_all[np.random.default_rng(seed).permutation(len(train_all))[:500]]
        for kind in ("soft targets", "hard labels"):
            start = time.perf_counter()
            student = distill.distill_cnn(teacher, subset.images, seed=seed, epochs=5 if quick else 20,
                                          labels=None if kind == "soft targets" else subset.labels)
            seconds = time.perf_counter() - start
            accuracy = np.mean(distill.predict_classes(student, test.images) == test.labels)
            out.append(f"| {seed} | {kind} | {student.count_params()} | {accuracy:.3f} | "
                       f"{distill.agreement(teacher, student, test.images):.3f} | {seconds:.0f} |")
            print(out[-1], flush=True)
    return out + [""]


def rewrite_loan_section(path: Path, quick: bool) -> int:
    """Replace the bank-loan section of an existing result file (after the loan world or model changed)."""
    section = "\n".join(loan_section(quick)) + "\n"  # its last line is empty: a blank line before the next
    path.write_text(replace_section(path.read_text(), "## The bank-loan model", section))
    print(f"rewrote the bank-loan section of {path}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.tcav_table", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer CAVs and rows (smoke run)")
    parser.add_argument("--loan-only", action="store_true",
                        help="recompute only the bank-loan section of an existing tcav.md, in place")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    if args.loan_only:
        return rewrite_loan_section(RESULTS / ("tcav_quick.md" if args.quick else "tcav.md"), args.quick)
    lines = ["# Concepts and distillation on the zoo models", "",
             f"Written by `python -m benchmarks.tcav_table{' --quick' if args.quick else ''}`.", "",
             "## TCAV", ""]
    tcav_lines, timings = tcav_section(args.quick)
    lines += tcav_lines
    lines += loan_section(args.quick)
    print("\n".join(lines[-40:]), flush=True)
    lines += distillation_section(args.quick)
    lines += ["## Run times", "", *(f"- tcav {k}: {v:.0f} s" for k, v in timings.items()),
              f"- total: {time.perf_counter() - start:.0f} s (on a shared 2-core CPU)", ""]
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / ("tcav_quick.md" if args.quick else "tcav.md")
    path.write_text("\n".join(lines))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
