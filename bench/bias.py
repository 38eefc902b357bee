"""Bias of the bundled model before and after removing the gender direction, beside its quality cost.

    python bench/bias.py [--shared ../shared/data]

Prints WEAT/SEAT effect sizes and p-values on published tests (May et al. 2019's sent-bias files),
the mean |projection| of Bolukbasi et al.'s professions on the bias direction, and STS-B Spearman and
ESCO job-title NDCG@10, before and after; writes bench/out/bias/audit.{json,html}.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from embedlab import Encoder, load_model
from embedlab.bias import audit_model, bias_direction, debias_model, load_association_tests, load_pairs_file
from embedlab.bias.audit import write_audit
from embedlab.evaluate import load_beir, load_pairs

TESTS = ["weat1", "weat2", "weat3", "weat6", "weat7", "weat8", "sent-weat6", "sent-weat7"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    args = parser.parse_args()
    bias = args.shared / "bias_wordlists"
    model = load_model()
    tests = load_association_tests(bias / "seat", TESTS)
    pairs = load_pairs_file(bias / "debiaswe" / "definitional_pairs.json")
    words = [row[0].replace("_", " ") for row in json.loads((bias / "debiaswe" / "professions.json").read_text())]
    inputs = {
        "tests": tests,
        "words": words,
        "sts": load_pairs(args.shared / "stsbenchmark" / "sts-test.csv"),
        "benchmark": load_beir(args.shared / "esco_jobtitles", split="test"),
    }
    subspace = bias_direction(Encoder(model), pairs)
    before = audit_model(model, subspace=subspace, **inputs)
    with tempfile.TemporaryDirectory() as folder:
        after = audit_model(debias_model(model, subspace, Path(folder) / "m"), subspace=subspace, **inputs)
    print(f"{'test':12s} {'targets x attributes':58s} {'before d (p)':>18s} {'after d (p)':>18s}")
    for b, a in zip(before.association, after.association, strict=True):
        pair = f"{' vs '.join(b.targets)} x {' vs '.join(b.attributes)}"
        print(f"{b.test:12s} {pair:58s} {b.effect_size:+.3f} ({b.p_value:.4f})  {a.effect_size:+.3f} ({a.p_value:.4f})")
    change = f"{before.mean_abs_projection:.4f} -> {after.mean_abs_projection:.6f}"
    print(f"mean |projection| of {len(words)} professions: {change}")
    for name in before.quality:
        print(f"{name}: {before.quality[name]} -> {after.quality[name]}")
    paths = write_audit(Path(__file__).parent / "out" / "bias", before, after)
    print(f"wrote {paths['html']}")


if __name__ == "__main__":
    main()
