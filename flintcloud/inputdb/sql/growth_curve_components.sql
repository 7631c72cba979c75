-- One row per (growth curve, component, age): merchantable volume by species and forest type.
SELECT gcc.growth_curve_id AS growth_curve_id,
       gcc.id AS component_id,
       gcc.species_id AS species_id,
       s.name AS species_name,
       ft.name AS forest_type,
       s.genus_id AS genus_id,
       gcv.age AS age,
       gcv.merchantable_volume AS merchantable_volume
FROM growth_curve_component gcc
INNER JOIN species s ON s.id = gcc.species_id
INNER JOIN forest_type ft ON ft.id = s.forest_type_id
INNER JOIN growth_curve_component_value gcv ON gcv.growth_curve_component_id = gcc.id
ORDER BY gcc.growth_curve_id, gcc.id, gcv.age
