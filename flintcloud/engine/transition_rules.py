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
SQLite's as in GCBM.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Mapping

from flintcloud.errors import DatabaseError
from flintcloud.sqlite_ro import ro_uri

_BASE_SQL = """
SELECT disturbance_type, transition_id FROM (
    SELECT ROW_NUMBER() OVER (PARTITION BY disturbance_type ORDER BY score DESC) AS tr_rank,
           disturbance_type, transition_id
    FROM (
        SELECT dt.name AS disturbance_type, tr.transition_id,
               SUM({score}) AS score
        FROM transition_rule tr
        INNER JOIN transition_rule_classifier_value trv ON trv.transition_rule_id = tr.id
        INNER JOIN classifier_value cv ON trv.classifier_value_id = cv.id
        INNER JOIN classifier c ON cv.classifier_id = c.id
        INNER JOIN disturbance_type dt ON tr.disturbance_type_id = dt.id
        GROUP BY tr.transition_id, tr.disturbance_type_id
        HAVING SUM({score}) > 0
    ) AS transition_ranking
) AS best_matches
WHERE tr_rank = 1
"""


def _score_sql(n_classifiers: int) -> str:
    names = ",".join("?" * n_classifiers)
    matches = " ".join("WHEN c.name LIKE ? AND cv.value LIKE ? THEN 4" for _ in range(n_classifiers))
    return (f"CASE WHEN c.name IN ({names}) THEN CASE WHEN cv.value LIKE '?' THEN 1 {matches} ELSE -1000 END "
            "ELSE -1000 END")


def rule_query(classifier_set: Mapping[str, str | None]) -> tuple[str, list[str]]:
    """GCBM's TransitionRuleTransform SQL for one classifier set, with its parameters.

    A null classifier value is matched as the text ``NULL``, as GCBM formats it.
    """
    names = list(classifier_set)
    values = ["NULL" if v is None else str(v) for v in classifier_set.values()]
    score_params = names + [x for pair in zip(names, values) for x in pair]
    sql = _BASE_SQL.format(score=_score_sql(len(names)))
    return sql, score_params + score_params


class TransitionRuleMatcher:
    """``transition_rule_matches`` of GCBM: {disturbance type name: transition id} per classifier set (cached)."""

    def __init__(self, db_path: Path | str):
        self.db_path = Path(db_path)
        self._cache: dict[tuple, dict[str, int]] = {}
        self._conn: sqlite3.Connection | None = None
        self.has_rules = self._count_rules() > 0

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = sqlite3.connect(ro_uri(self.db_path), uri=True)  # safe for # ? % in the path
        return self._conn

    def _count_rules(self) -> int:
        try:
            return int(self._connect().execute("SELECT COUNT(*) FROM transition_rule").fetchone()[0])
        except sqlite3.Error as exc:
            if "no such table" in str(exc):
                return 0
            raise DatabaseError(f"{str(self.db_path)!r}: cannot read table transition_rule: {exc}") from exc

    def matches(self, classifier_set: Mapping[str, str | None]) -> dict[str, int]:
        key = tuple(classifier_set.items())
        if key not in self._cache:
            if not self.has_rules:
                self._cache[key] = {}
            else:
                sql, params = rule_query(classifier_set)
                try:
                    rows = self._connect().execute(sql, params).fetchall()
                except sqlite3.Error as exc:
                    raise DatabaseError(
                        f"{str(self.db_path)!r}: GCBM's transition rule query failed on tables transition_rule / "
                        f"transition_rule_classifier_value / classifier_value / classifier / disturbance_type: {exc}"
                    ) from exc
                self._cache[key] = {str(dt): int(tr) for dt, tr in rows}
        return self._cache[key]

    def transition(self, classifier_set: Mapping[str, str | None], disturbance_type: str) -> int:
        """The matched transition id for this disturbance type name, -1 when no rule matches."""
        return self.matches(classifier_set).get(disturbance_type, -1)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
