-- Disturbed area and carbon: per (location, module, disturbance record) the total disturbance flux
-- is taken together with the record's area, so only disturbances that moved carbon appear here
-- (v_total_disturbed_areas has them all).
CREATE TEMP TABLE v_disturbance_indicators AS
SELECT
    {cls_cur},
    {cls_prev},
    cur.land_class AS unfccc_land_class,
    prev.land_class AS unfccc_land_class_previous,
    CAST(cur.year AS INTEGER) AS year,
    dt.disturbanceType AS disturbance_code,
    dt.disturbanceTypeName AS disturbance_type,
    prev.age_range AS pre_dist_age_range,
    cur.age_range AS post_dist_age_range,
    CAST(SUM(di.area) AS REAL) AS dist_area,
    CAST(SUM(f.flux_tc) AS REAL) AS dist_carbon,
    CAST(SUM(f.flux_tc) / SUM(di.area) AS REAL) AS dist_carbon_per_ha
FROM (
    SELECT locationDimId, moduleInfoDimId, disturbanceDimId, SUM(fluxValue) AS flux_tc
    FROM raw.Fluxes
    WHERE disturbanceDimId IS NOT NULL
    GROUP BY locationDimId, moduleInfoDimId, disturbanceDimId
) AS f
JOIN temp.location AS cur ON cur.location_id = f.locationDimId
JOIN raw.DisturbanceDimension AS di ON di.id = f.disturbanceDimId
JOIN raw.DisturbanceTypeDimension AS dt ON dt.id = di.disturbanceTypeDimId
JOIN temp.location AS prev ON prev.location_id = di.previousLocationDimId
WHERE cur.year > 0
GROUP BY {grp_cur}, {grp_prev}, cur.land_class, prev.land_class, dt.disturbanceType, dt.disturbanceTypeName,
         cur.age_range, prev.age_range, cur.year;
