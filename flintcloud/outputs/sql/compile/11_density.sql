-- Landscape totals of an indicator table per year, and per hectare of the year's total area.
CREATE TEMP TABLE {table}_density AS
SELECT
    t.indicator AS indicator,
    CAST(a.year AS INTEGER) AS year,
    CAST(COALESCE(t.flux_tc, 0) AS REAL) AS flux_tc,
    CAST(COALESCE(t.flux_tc / a.area, 0) AS REAL) AS flux_tc_per_ha
FROM (SELECT year, SUM(area) AS area FROM v_age_indicators GROUP BY year) AS a
LEFT JOIN (SELECT indicator, year, SUM(flux_tc) AS flux_tc FROM {table} GROUP BY indicator, year) AS t
    ON t.year = a.year
ORDER BY t.indicator, t.year;
