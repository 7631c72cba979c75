-- Stock changes: collections added (+1) or subtracted (-1).
CREATE TEMP TABLE v_stock_change_indicators AS
SELECT
    sc.name AS indicator,
    {cls_a},
    a.unfccc_land_class AS unfccc_land_class,
    CAST(a.year AS INTEGER) AS year,
    a.age_range AS age_range,
    CAST(SUM(a.flux_tc * sc.sign) AS REAL) AS flux_tc
FROM temp.stock_change AS sc
JOIN v_flux_indicator_aggregates AS a ON a.flux_indicator_collection_id = sc.collection_id
GROUP BY sc.name, {grp_a}, a.unfccc_land_class, a.age_range, a.year;
