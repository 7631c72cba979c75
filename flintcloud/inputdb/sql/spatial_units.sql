-- Spatial units with their admin/eco boundary names and spinup parameters.
SELECT spu.id AS spatial_unit_id,
       a.name AS admin_boundary,
       e.name AS eco_boundary,
       spu.admin_boundary_id AS admin_boundary_id,
       spu.eco_boundary_id AS eco_boundary_id,
       a.stump_parameter_id AS stump_parameter_id,
       sp.return_interval AS return_interval,
       sp.max_rotations AS max_rotations,
       sp.historic_disturbance_type_id AS historic_disturbance_type_id,
       dt.name AS historic_disturbance_type,
       sp.mean_annual_temperature AS spinup_mean_annual_temperature
FROM spatial_unit spu
INNER JOIN admin_boundary a ON a.id = spu.admin_boundary_id
INNER JOIN eco_boundary e ON e.id = spu.eco_boundary_id
LEFT JOIN spinup_parameter sp ON sp.id = spu.spinup_parameter_id
LEFT JOIN disturbance_type dt ON dt.id = sp.historic_disturbance_type_id
