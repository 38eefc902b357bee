"""Association tests: WEAT (Caliskan et al. 2017) and its sentence form SEAT (May et al. 2019).

Two target sets X, Y (e.g. career words, family words) and two attribute sets A, B (e.g. male names,
female names). For a text w, ``s(w, A, B) = mean cos(w, a) - mean cos(w, b)``. The effect size is

    d = (mean_{x in X} s(x, A, B) - mean_{y in Y} s(y, A, B)) / std_{w in X u Y} s(w, A, B)

(sample standard deviation, as in May et al.'s code), and the one-sided p-value is the share of
equal-size re-partitions of X u Y whose statistic ``sum_x s(x) - sum_y s(y)`` is at least the observed
one (``scipy.stats.permutation_test``; exact when the partitions are few). SEAT is the same test on
sentences; :func:`seat_sets` turns word sets into sentences with templates such as ``"This is {word}."``.

Test files are JSON objects with ``targ1``, ``targ2``, ``attr1``, ``attr2``, each
``{"category": name, "examples": [...]}`` (the format of W4ngatang/sent-bias).

Example:
    >>> test = load_association_test("../shared/data/bias_wordlists/seat/weat6.jsonl")  # doctest: +SKIP
    >>> weat(Encoder(), test).effect_size  # needs the shared bias word lists  # doctest: +SKIP
    1.2
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from embedlab.encode import Encoder
from embedlab.errors import InputError

DEFAULT_TEMPLATES = ("This is {word}.", "That is {word}.", "There is {word}.", "Here is {word}.")
_ROLES = ("targ1", "targ2", "attr1", "attr2")


@dataclass(frozen=True)
class AssociationTest:
    """Two target sets and two attribute sets, each with a category name."""

    name: str
    targets: tuple[str, str]
    attributes: tuple[str, str]
    x: tuple[str, ...]
    y: tuple[str, ...]
    a: tuple[str, ...]
    b: tuple[str, ...]

    def __post_init__(self) -> None:
        empty = [role for role, texts in zip(_ROLES, (self.x, self.y, self.a, self.b), strict=True) if not texts]
        if empty:
            raise InputError(
                f"Association test {self.name!r}: {', '.join(empty)} empty; an empty set measures nothing."
            )


@dataclass(frozen=True)
class AssociationResult:
    """Effect size and one-sided permutation p-value of one test on one model."""

    test: str
    targets: tuple[str, str]
    attributes: tuple[str, str]
    effect_size: float
    p_value: float
    sizes: tuple[int, int, int, int]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


def load_association_test(path: str | Path, *, name: str | None = None) -> AssociationTest:
    """Read a sent-bias style JSON test file.

    Raises:
        InputError: not JSON, a missing set, a set with fewer than two examples.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not a readable JSON association test ({exc}).") from exc
    if not isinstance(data, dict):
        raise InputError(f"{path}: an association test is a JSON object with {', '.join(_ROLES)}.")
    missing = [role for role in _ROLES if not isinstance(data.get(role), dict) or "examples" not in data[role]]
    if missing:
        raise InputError(f"{path}: missing {', '.join(missing)} (each needs 'category' and 'examples').")
    malformed = [role for role in _ROLES if not is_text_list(data[role]["examples"])]
    if malformed:
        raise InputError(f"{path}: the examples of {', '.join(malformed)} must be a list of non-empty strings.")
    unnamed = [role for role in _ROLES if not isinstance(data[role].get("category", ""), str)]
    if unnamed:
        raise InputError(f"{path}: the category of {', '.join(unnamed)} must be a string.")
    sets = {role: tuple(data[role]["examples"]) for role in _ROLES}
    small = [role for role, examples in sets.items() if len(examples) < 2]
    if small:
        raise InputError(f"{path}: {', '.join(small)} need at least two examples each.")
    return AssociationTest(
        name=name or path.name.removesuffix(".jsonl").removesuffix(".json"),
        targets=(str(data["targ1"].get("category", "X")), str(data["targ2"].get("category", "Y"))),
        attributes=(str(data["attr1"].get("category", "A")), str(data["attr2"].get("category", "B"))),
        x=sets["targ1"],
        y=sets["targ2"],
        a=sets["attr1"],
        b=sets["attr2"],
    )


def load_association_tests(folder: str | Path, names: Sequence[str] | None = None) -> list[AssociationTest]:
    """Every ``*.jsonl``/``*.json`` test in ``folder`` (or only ``names``, without suffix), sorted by name."""
    root = Path(folder)
    if not root.is_dir():
        raise InputError(f"{root}: not a folder of association tests (*.jsonl).")
    files = {p.name.removesuffix(".jsonl").removesuffix(".json"): p for p in root.glob("*.json*") if p.is_file()}
    if names is not None:
        unknown = sorted(set(names) - set(files))
        if unknown:
            raise InputError(f"{root}: no association tests named {', '.join(unknown)}.")
        files = {name: files[name] for name in names}
    if not files:
        raise InputError(f"{root}: no association test files (*.jsonl) found.")
    return [load_association_test(files[name], name=name) for name in sorted(files)]


def seat_sets(test: AssociationTest, templates: Sequence[str] = DEFAULT_TEMPLATES) -> AssociationTest:
    """The sentence (SEAT) form of a word test: every word put into every template."""

    def fill(words: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(template.format(word=word) for word in words for template in templates)

    return AssociationTest(
        name=f"sent-{test.name}",
        targets=test.targets,
        attributes=test.attributes,
        x=fill(test.x),
        y=fill(test.y),
        a=fill(test.a),
        b=fill(test.b),
    )


def weat(encoder: Encoder, test: AssociationTest, *, n_resamples: int = 100_000, seed: int = 0) -> AssociationResult:
    """Run one association test with ``encoder``'s model (WEAT on words, SEAT on sentences)."""
    vectors = [encoder.encode(list(group)) for group in (test.x, test.y, test.a, test.b)]  # normalised below
    return association_from_vectors(*vectors, test=test, n_resamples=n_resamples, seed=seed)


def association_from_vectors(
    x: np.ndarray,
    y: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    *,
    test: AssociationTest | None = None,
    n_resamples: int = 100_000,
    seed: int = 0,
) -> AssociationResult:
    """WEAT's effect size and p-value from unit vectors (the core, for tests with chosen vectors)."""
    sizes = (len(x), len(y), len(a), len(b))
    if 0 in sizes:
        raise InputError(f"Every target and attribute set needs vectors; got sets of sizes {sizes}.")
    x, y, a, b = (_unit(v) for v in (x, y, a, b))
    s_x = (x @ a.T).mean(axis=1) - (x @ b.T).mean(axis=1)
    s_y = (y @ a.T).mean(axis=1) - (y @ b.T).mean(axis=1)
    pooled = np.concatenate([s_x, s_y])
    spread = pooled.std(ddof=1)
    effect = float((s_x.mean() - s_y.mean()) / spread) if spread > 0 else 0.0
    result = stats.permutation_test(
        (s_x, s_y),
        lambda first, second, axis: first.sum(axis=axis) - second.sum(axis=axis),
        permutation_type="independent",
        alternative="greater",
        n_resamples=n_resamples,
        vectorized=True,
        rng=seed,
    )
    return AssociationResult(
        test=test.name if test else "custom",
        targets=test.targets if test else ("X", "Y"),
        attributes=test.attributes if test else ("A", "B"),
        effect_size=effect,
        p_value=float(result.pvalue),
        sizes=sizes,
    )


def is_text_list(items: object) -> bool:
    """Whether ``items`` is a list of non-blank strings (what a word list or a set of examples must be)."""
    return isinstance(items, list) and all(isinstance(item, str) and item.strip() for item in items)


def _unit(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    if (norms == 0).any():
        raise InputError("An association set contains a zero vector (an empty text?).")
    return vectors / norms
