-- Disturbance matrix transfers by pool name.
SELECT dmv.disturbance_matrix_id AS disturbance_matrix_id,
       src.name AS source_pool,
       dst.name AS sink_pool,
       dmv.proportion AS proportion
FROM disturbance_matrix_value dmv
INNER JOIN pool src ON src.id = dmv.source_pool_id
INNER JOIN pool dst ON dst.id = dmv.sink_pool_id
