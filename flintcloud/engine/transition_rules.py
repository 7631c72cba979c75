"""Which transition a disturbance event with no sidecar ``transition`` id gets (GCBM's rule matching).

moja.canada (develop @ 9091baa): CBMDisturbanceListener passes an event's sidecar ``transition`` id, or
-1 when the event has none; CBMTransitionRulesModule then looks the disturbance type's name up in the
``transition_rule_matches`` variable, a TransitionRuleTransform over the stand's *current* classifier set
(so a second event in the same year sees the first one's classifier changes). The transform runs one SQL
query (transitionruletransform.h ``_baseSql``): for every (transition_id, disturbance_type_id) group of
``transition_rule`` rows, each rule classifier value scores +4 when it matches the stand's value
(``LIKE``, so case-insensitive), +1 when it is ``?``, -1000 otherwise (also for a classifier the stand
does not have); groups with a positive total are ranked per disturbance type by score and the first
(``ROW_NUMBER() ... ORDER BY score DESC``) wins. The query here is GCBM's, with the classifier names and
values bound as parameters instead of formatted into the SQL, so scoring, pooling and tie order are
SQLite's as in GCBM. The query and the reads are in inputdb.reader (sql/transition_rule_matches.sql).
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

from flintcloud.inputdb.reader import read_transition_rule_count, read_transition_rule_matches, transition_rule_query

__all__ = ["TransitionRuleMatcher", "rule_query"]

rule_query = transition_rule_query  # the query lives with the other gcbm_input.db reads (inputdb.reader)


class TransitionRuleMatcher:
    """``transition_rule_matches`` of GCBM: {disturbance type name: transition id} per classifier set (cached).

    The db is read through inputdb.reader (the one module that opens gcbm_input.db), once per classifier set.
    """

    def __init__(self, db_path: Path | str):
        self.db_path = Path(db_path)
        self._cache: dict[tuple, dict[str, int]] = {}
        self.has_rules = read_transition_rule_count(self.db_path) > 0

    def matches(self, classifier_set: Mapping[str, str | None]) -> dict[str, int]:
        key = tuple(classifier_set.items())
        if key not in self._cache:
            self._cache[key] = read_transition_rule_matches(self.db_path, classifier_set) if self.has_rules else {}
        return self._cache[key]

    def transition(self, classifier_set: Mapping[str, str | None], disturbance_type: str) -> int:
        """The matched transition id for this disturbance type name, -1 when no rule matches."""
        return self.matches(classifier_set).get(disturbance_type, -1)

    def close(self) -> None:
        """Nothing to close (every read opens and closes its own read-only connection); kept for callers."""
