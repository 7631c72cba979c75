-- Rows that GCBM expects in every gcbm_input.db and that libcbm's cbm_defaults does
-- not carry in this form (values as Recliner2GCBM writes them).

INSERT INTO land_class (id, code, description, is_forest, years_to_permanent) VALUES
  (1, 'FL', 'Forest land', 1, 20),
  (2, 'UFL', 'Unmanaged forest land', 1, 20),
  (3, 'CL', 'Cropland', 0, 20),
  (4, 'GL', 'Grassland', 0, 20),
  (5, 'WL', 'Wetland', 0, 10),
  (6, 'SL', 'Settlements', 0, 20),
  (7, 'OL', 'Other land', 0, 20);

INSERT INTO disturbance_category (id, code, description) VALUES
  (1, 'A', 'Anthropogenic influence'),
  (2, 'N', 'Naturally disturbed');

INSERT INTO transition_type (id, name) VALUES (1, 'absolute'), (2, 'relative'), (3, 'yield');

INSERT INTO accounting_rule_type (id, name, spinup) VALUES
  (1, 'years_since_last_pass_disturbance', 1),
  (2, 'years_since_disturbance', 0),
  (3, 'ag_biomass', 0),
  (4, 'total_biomass', 0),
  (5, 'total_eco', 0);
