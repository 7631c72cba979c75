-- Every disturbed area GCBM recorded, fluxes or not, with the stand's state before the disturbance.
CREATE TEMP TABLE v_total_disturbed_areas AS
SELECT
    {cls_cur},
    {cls_prev},
    cur.land_class AS unfccc_land_class,
    prev.land_class AS unfccc_land_class_previous,
    CAST(cur.year AS INTEGER) AS year,
    dt.disturbanceType AS disturbance_code,
    dt.disturbanceTypeName AS disturbance_type,
    CAST(SUM(di.area) AS REAL) AS dist_area
FROM raw.DisturbanceDimension AS di
JOIN temp.location AS cur ON cur.location_id = di.locationDimId
JOIN temp.location AS prev ON prev.location_id = di.previousLocationDimId
JOIN raw.DisturbanceTypeDimension AS dt ON dt.id = di.disturbanceTypeDimId
GROUP BY {grp_cur}, {grp_prev}, cur.land_class, prev.land_class, dt.disturbanceType, dt.disturbanceTypeName, cur.year;
