-- Flux indicator collections: the sum of their member flux indicators (over disturbance types).
CREATE TEMP TABLE v_flux_indicator_aggregates AS
SELECT
    fc.id AS flux_indicator_collection_id,
    fc.name AS indicator,
    CAST(fi.year AS INTEGER) AS year,
    {cls_fi},
    fi.unfccc_land_class AS unfccc_land_class,
    fi.age_range AS age_range,
    CAST(SUM(fi.flux_tc) AS REAL) AS flux_tc
FROM temp.flux_collection AS fc
JOIN temp.flux_collection_member AS m ON m.collection_id = fc.id
JOIN v_flux_indicators AS fi ON fi.flux_indicator_id = m.flux_indicator_id
GROUP BY fc.id, fc.name, fi.year, {grp_fi}, fi.unfccc_land_class, fi.age_range;
