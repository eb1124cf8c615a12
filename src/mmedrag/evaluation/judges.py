"""Is an answer correct? The judges that define factuality risk for calibration and preference mining.

* closed: the parsed yes/no label equals the gold one (an abstention is wrong; method.md §4 defines FR(k) as the
  error rate of closed answers);
* open: token recall of the gold answer at least a threshold (default 0.5);
* report: ROUGE-L F1 against the gold report at least a threshold (default 0.3) — a configurable stand-in for the
  reference code's "BLEU above the mean" rule (method.md §5.1.3), which depends on the batch it is computed in.
"""

from __future__ import annotations

from dataclasses import dataclass

from mmedrag.evaluation.closed import parse_yes_no
from mmedrag.evaluation.open_answers import normalize_answer, token_recall


def rouge_l_f1(prediction: str, reference: str) -> float:
    """ROUGE-L F1 (Lin 2004) on normalised tokens, via the longest common subsequence."""
    a, b = normalize_answer(prediction), normalize_answer(reference)
    if not a or not b:
        return 0.0
    previous = [0] * (len(b) + 1)
    for token in a:
        current = [0]
        for j, other in enumerate(b, start=1):
            current.append(previous[j - 1] + 1 if token == other else max(previous[j], current[-1]))
        previous = current
    lcs = previous[-1]
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(a), lcs / len(b)
    return 2 * precision * recall / (precision + recall)


@dataclass(frozen=True)
class Judge:
    open_threshold: float = 0.5
    report_threshold: float = 0.3

    def correct(self, task: str, answer: str, gold: str) -> bool:
        if task == "closed":
            label = parse_yes_no(gold)
            return label is not None and parse_yes_no(answer) == label
        if task == "open":
            return token_recall(answer, gold) >= self.open_threshold
        return rouge_l_f1(answer, gold) >= self.report_threshold
