-- Each flux indicator: carbon moved from any pool of its source collection to any pool of its sink
-- collection, counting annual-process fluxes (no disturbance record), disturbance fluxes, or both.
-- Groups whose total is not positive are left out, as GCBM.CompileResults does.
CREATE TEMP TABLE v_flux_indicators AS
SELECT
    fi.id AS flux_indicator_id,
    {cls_l},
    l.land_class AS unfccc_land_class,
    fi.name AS indicator,
    CAST(l.year AS INTEGER) AS year,
    dt.disturbanceType AS disturbance_code,
    dt.disturbanceTypeName AS disturbance_type,
    l.age_range AS age_range,
    CAST(SUM(f.fluxValue) AS REAL) AS flux_tc
FROM temp.flux_indicator AS fi
JOIN temp.collection_pool AS src ON src.collection = fi.source_collection
JOIN temp.collection_pool AS snk ON snk.collection = fi.sink_collection
JOIN raw.Fluxes AS f ON f.poolSrcDimId = src.pool_id AND f.poolDstDimId = snk.pool_id
JOIN temp.location AS l ON l.location_id = f.locationDimId
LEFT JOIN raw.DisturbanceDimension AS di ON di.id = f.disturbanceDimId
LEFT JOIN raw.DisturbanceTypeDimension AS dt ON dt.id = di.disturbanceTypeDimId
WHERE fi.change_type = 'combined'
   OR (fi.change_type = 'annual process' AND f.disturbanceDimId IS NULL)
   OR (fi.change_type = 'disturbance' AND f.disturbanceDimId IS NOT NULL)
GROUP BY fi.id, {grp_l}, l.land_class, fi.name, dt.disturbanceType, dt.disturbanceTypeName, l.age_range, l.year
HAVING SUM(f.fluxValue) > 0;
