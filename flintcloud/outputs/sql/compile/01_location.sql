-- One row per raw location with its reporting attributes. Its area is the area of every location
-- sharing the same classifier values, year, land class and age class (a distributed GCBM run can
-- write several such locations), summed with a window over those attributes.
CREATE TEMP TABLE location (
    location_id INTEGER PRIMARY KEY,
    {cls_ddl},
    year INTEGER,
    land_class VARCHAR,
    age_range VARCHAR,
    area REAL
);
INSERT INTO temp.location
SELECT
    l.id,
    {cls_c},
    d.year,
    lc.name,
    CASE
        WHEN ac.startAge = -1 THEN 'N/A'
        WHEN ac.endAge = -1 THEN ac.startAge || '+'
        ELSE ac.startAge || '-' || ac.endAge
    END,
    SUM(l.area) OVER (PARTITION BY {cls_c}, d.year, lc.name, ac.startAge, ac.endAge)
FROM raw.LocationDimension AS l
JOIN raw.ClassifierSetDimension AS c ON c.id = l.classifierSetDimId
JOIN raw.DateDimension AS d ON d.id = l.dateDimId
JOIN raw.LandClassDimension AS lc ON lc.id = l.landClassDimId
JOIN raw.AgeClassDimension AS ac ON ac.id = l.ageClassDimId;
