-- Area (ha) by classifier set, land class and age class, per simulated year.
CREATE TEMP TABLE v_age_indicators AS
SELECT
    CAST(l.year AS INTEGER) AS year,
    {cls_l},
    l.land_class AS unfccc_land_class,
    l.age_range AS age_range,
    CAST(SUM(a.area) AS REAL) AS area
FROM raw.AgeArea AS a
JOIN raw.AgeClassDimension AS ac ON ac.id = a.ageClassDimId
JOIN temp.location AS l ON l.location_id = a.locationDimId
WHERE l.year > 0
GROUP BY l.year, {grp_l}, l.land_class, l.age_range;
