-- Simulation errors by module and message, with the area of the locations they hit.
CREATE TEMP TABLE v_error_indicators AS
SELECT
    CAST(l.year AS INTEGER) AS year,
    {cls_l},
    e.module AS module,
    e.error AS error,
    CAST(SUM(l.area) AS REAL) AS area
FROM raw.ErrorDimension AS e
LEFT JOIN raw.LocationErrorDimension AS le ON le.errorDimId = e.id
LEFT JOIN temp.location AS l ON l.location_id = le.locationDimId
GROUP BY l.year, {grp_l}, e.module, e.error;
