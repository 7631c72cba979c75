-- Classifier values that select each growth curve ('?' = any value).
SELECT gccv.growth_curve_id AS growth_curve_id,
       c.name AS classifier_name,
       cv.value AS classifier_value
FROM growth_curve_classifier_value gccv
INNER JOIN classifier_value cv ON cv.id = gccv.classifier_value_id
INNER JOIN classifier c ON c.id = cv.classifier_id
