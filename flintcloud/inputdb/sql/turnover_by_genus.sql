-- Turnover parameters per (eco boundary, genus), as GCBM's turnover_rates query reads them.
SELECT tpa.eco_boundary_id AS eco_boundary_id,
       tpa.genus_id AS genus_id,
       t.id AS turnover_parameter_id,
       t.foliage, t.stem, t.branch, t.stem_snag, t.branch_snag,
       t.coarse_root, t.fine_root, t.branch_snag_split, t.coarse_ag_split, t.fine_ag_split
FROM turnover_parameter_association tpa
INNER JOIN turnover_parameter t ON t.id = tpa.turnover_parameter_id
