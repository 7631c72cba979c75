-- Pool indicators: stocks (tC) of a pool collection at the end of each simulated year.
CREATE TEMP TABLE v_pool_indicators AS
SELECT
    pi.id AS indicator_id,
    {cls_l},
    l.land_class AS unfccc_land_class,
    pi.name AS indicator,
    CAST(l.year AS INTEGER) AS year,
    l.age_range AS age_range,
    CAST(SUM(p.poolValue) AS REAL) AS pool_tc
FROM temp.pool_indicator AS pi
JOIN temp.collection_pool AS cp ON cp.collection = pi.collection
JOIN raw.Pools AS p ON p.poolId = cp.pool_id
JOIN temp.location AS l ON l.location_id = p.locationDimId
WHERE l.year > 0
GROUP BY pi.id, pi.name, l.year, l.age_range, {grp_l}, l.land_class;
