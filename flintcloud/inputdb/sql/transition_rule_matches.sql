-- GCBM's TransitionRuleTransform query (moja.canada transitionruletransform.h _baseSql), with the
-- classifier names and values bound as parameters: the score placeholder is inputdb.reader._score_sql's CASE.
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
