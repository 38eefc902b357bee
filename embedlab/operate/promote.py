"""Promote a new index behind a quality gate, and roll back: an atomic switch of a named alias.

The gate (:func:`gate`) reads the comparison saved by ``embedlab migrate compare`` (``compare.json``)
and passes when:

1. the comparison is of the alias's current target and the new index (same folders and models);
2. it was made on a benchmark, and the new index is not significantly worse on NDCG@10 (paired test,
   ``p < 0.05`` with a negative difference fails);
3. the new index has a calibrated threshold (``NEW/threshold.json``, checked against its model), when
   ``require_threshold``.

A gate that fails names the figures. ``force`` promotes anyway (the failed legs are kept in the alias's
history); a half-built index is refused even then (:func:`~embedlab.operate.migrate.check_complete`).

Example:
    >>> # not run: needs two indexes and a comparison
    >>> promote("docs.alias.json", "docs-v2", comparison="docs-v2/compare/compare.json")  # doctest: +SKIP
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from embedlab.errors import EmbedlabError, InputError
from embedlab.index.settings import read_settings
from embedlab.operate.aliases import AliasState, read_alias, switch_alias
from embedlab.operate.compare import KIND
from embedlab.operate.migrate import check_complete


class GateError(EmbedlabError):
    """A promotion the gate refused; the message names the failed legs and their figures."""


@dataclass(frozen=True)
class GateResult:
    """Whether the gate passes, the reasons it fails (empty when it passes) and the figures it read."""

    passed: bool
    failures: list[str] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)


def default_comparison(new: str | Path) -> Path:
    """Where ``embedlab migrate compare`` saves by default: ``NEW/compare/compare.json``."""
    return Path(new) / "compare" / "compare.json"


def gate(old: str | Path, new: str | Path, comparison: str | Path | None = None, *,
         require_threshold: bool = True) -> GateResult:  # fmt: skip
    """Check the promotion of index ``new`` over index ``old`` (see the module's legs)."""
    path = Path(comparison) if comparison is not None else default_comparison(new)
    failures: list[str] = []
    figures: dict[str, Any] = {"comparison": str(path)}
    try:
        result = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return GateResult(False, [f"no comparison at {path} ({exc}): run 'embedlab migrate compare' first"], figures)
    if not isinstance(result, dict) or result.get("kind") != KIND:
        return GateResult(False, [f"{path} is not a migration comparison"], figures)
    for side, folder in (("old", old), ("new", new)):
        expected = {
            "path": str(Path(folder).resolve()),
            "fingerprint": read_settings(Path(folder))["model"]["fingerprint"],
        }
        found = {"path": result[side]["path"], "fingerprint": result[side]["model"]["fingerprint"]}
        if found != expected:
            failures.append(
                f"the comparison's {side} index is {found['path']} ({found['fingerprint'][:12]}), not "
                f"{expected['path']} ({expected['fingerprint'][:12]}): compare these two again"
            )
    quality = result.get("retrieval")
    if not quality:
        failures.append("the comparison has no benchmark: run 'migrate compare' with --benchmark")
    else:
        test = quality["ndcg@10_test"]
        before, after, d = quality["old"]["ndcg@10"], quality["new"]["ndcg@10"], test["difference"]
        figures.update(ndcg_old=before["value"], ndcg_new=after["value"], difference=d["value"],
                       p_value=test["p_value"], queries=quality["queries"])  # fmt: skip
        if test["significant"] and d["value"] < 0:
            failures.append(
                f"NDCG@10 is significantly worse on {quality['benchmark']} ({quality['queries']} queries): new "
                f"{after['value']:.4f} [{after['low']:.4f}, {after['high']:.4f}] vs old {before['value']:.4f} "
                f"[{before['low']:.4f}, {before['high']:.4f}], difference {d['value']:+.4f} [{d['low']:+.4f}, "
                f"{d['high']:+.4f}], p = {test['p_value']:.4f} < {test['alpha']}"
            )
    if require_threshold:
        problem = _threshold_problem(Path(new))
        figures["threshold"] = problem or "calibrated"
        if problem:
            failures.append(problem)
    return GateResult(not failures, failures, figures)


def promote(alias: str | Path, new: str | Path, *, comparison: str | Path | None = None, force: bool = False,
            require_threshold: bool = True) -> tuple[AliasState, GateResult]:  # fmt: skip
    """Switch ``alias`` to the index ``new`` if the gate passes (or ``force``); return the alias and the gate.

    Raises:
        InputError: ``new`` is half-built or no index.
        GateError: the gate failed and ``force`` is off (the message lists every failed leg).
    """
    check_complete(new)
    current = read_alias(alias).target
    if Path(new).resolve() == current:
        raise InputError(f"The alias {alias} points at {current} already.")
    result = gate(current, new, comparison, require_threshold=require_threshold)
    if not result.passed and not force:
        raise GateError(
            f"The gate refuses to promote {new} over {current}:\n- "
            + "\n- ".join(result.failures)
            + "\nFix these, or promote anyway with --force."
        )
    note = {"gate": "passed" if result.passed else "forced", "failures": result.failures, "figures": result.figures}
    return switch_alias(alias, new, note=note), result


def _threshold_problem(new: Path) -> str | None:
    """Why ``new`` has no usable calibrated threshold, or ``None``."""
    try:
        from embedlab.operate.thresholds import FILENAME, Threshold
    except ImportError:
        return "no calibrated threshold: this embedlab has no embedlab.operate.thresholds (use --no-threshold)"
    try:
        Threshold.load(new / FILENAME).check(read_settings(new))
    except EmbedlabError as exc:
        return f"no calibrated threshold for the new index: {exc}"
    return None
