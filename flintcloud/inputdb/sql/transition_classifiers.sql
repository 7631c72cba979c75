SELECT tcv.transition_id AS transition_id,
       c.name AS classifier_name,
       cv.value AS classifier_value
FROM transition_classifier_value tcv
INNER JOIN classifier_value cv ON cv.id = tcv.classifier_value_id
INNER JOIN classifier c ON c.id = cv.classifier_id
