-- Disturbance fluxes pool to pool.
CREATE TEMP TABLE v_disturbance_fluxes AS
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
    src.poolName AS from_pool,
    dst.poolName AS to_pool,
    CAST(SUM(f.fluxValue) AS REAL) AS flux_tc
FROM raw.Fluxes AS f
JOIN raw.PoolDimension AS src ON src.id = f.poolSrcDimId
JOIN raw.PoolDimension AS dst ON dst.id = f.poolDstDimId
JOIN raw.DisturbanceDimension AS di ON di.id = f.disturbanceDimId
JOIN temp.location AS cur ON cur.location_id = f.locationDimId
JOIN temp.location AS prev ON prev.location_id = di.previousLocationDimId
JOIN raw.DisturbanceTypeDimension AS dt ON dt.id = di.disturbanceTypeDimId
WHERE cur.year > 0
GROUP BY src.poolName, dst.poolName, {grp_cur}, {grp_prev}, cur.land_class, prev.land_class,
         dt.disturbanceType, dt.disturbanceTypeName, cur.age_range, prev.age_range, cur.year;
