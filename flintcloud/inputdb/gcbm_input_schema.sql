-- Schema of gcbm_input.db as Recliner2GCBM writes it and GCBM's configs query it.
-- Table and column names follow the real Recliner2GCBM output (41 tables); one
-- addition: eco_boundary.turnover_parameter_id, so the `other_to_branch_snag_split`
-- query of GCBM's standard variables.json can run (it fails on Recliner2GCBM's db).

CREATE TABLE admin_region (id INTEGER NOT NULL PRIMARY KEY, name VARCHAR(255) NOT NULL);
CREATE TABLE eco_region (id INTEGER NOT NULL PRIMARY KEY, name VARCHAR(255) NOT NULL);
CREATE TABLE stump_parameter (
  id INTEGER NOT NULL PRIMARY KEY,
  sw_top_proportion DOUBLE NOT NULL, sw_stump_proportion DOUBLE NOT NULL,
  hw_top_proportion DOUBLE NOT NULL, hw_stump_proportion DOUBLE NOT NULL,
  CONSTRAINT u_stump_parameters UNIQUE (sw_top_proportion, sw_stump_proportion, hw_top_proportion, hw_stump_proportion));
CREATE TABLE turnover_parameter (
  id INTEGER NOT NULL PRIMARY KEY,
  foliage DOUBLE NOT NULL, stem DOUBLE NOT NULL, branch DOUBLE NOT NULL,
  stem_snag DOUBLE NOT NULL, branch_snag DOUBLE NOT NULL,
  coarse_root DOUBLE NOT NULL, fine_root DOUBLE NOT NULL,
  branch_snag_split DOUBLE NOT NULL, coarse_ag_split DOUBLE NOT NULL, fine_ag_split DOUBLE NOT NULL);
CREATE TABLE admin_boundary (
  id INTEGER NOT NULL PRIMARY KEY, name VARCHAR(255) NOT NULL,
  admin_region_id INTEGER NOT NULL REFERENCES admin_region(id),
  stump_parameter_id INTEGER NOT NULL REFERENCES stump_parameter(id));
CREATE TABLE eco_boundary (
  id INTEGER NOT NULL PRIMARY KEY, name VARCHAR(255) NOT NULL,
  eco_region_id INTEGER NOT NULL REFERENCES eco_region(id),
  turnover_parameter_id INTEGER REFERENCES turnover_parameter(id));
CREATE TABLE land_class (
  id INTEGER NOT NULL PRIMARY KEY, code CLOB NOT NULL UNIQUE, description CLOB NOT NULL,
  is_forest INTEGER NOT NULL, years_to_permanent INTEGER NOT NULL);
CREATE TABLE disturbance_category (
  id INTEGER NOT NULL PRIMARY KEY, code VARCHAR(255) NOT NULL UNIQUE, description VARCHAR(255) NOT NULL);
CREATE TABLE disturbance_type (
  id INTEGER NOT NULL PRIMARY KEY,
  disturbance_category_id INTEGER NOT NULL REFERENCES disturbance_category(id),
  transition_land_class_id INTEGER REFERENCES land_class(id),
  name VARCHAR(255) NOT NULL UNIQUE, code INTEGER);
CREATE TABLE spinup_parameter (
  id INTEGER NOT NULL PRIMARY KEY,
  historic_disturbance_type_id INTEGER NOT NULL REFERENCES disturbance_type(id),
  return_interval INTEGER NOT NULL, max_rotations INTEGER NOT NULL,
  mean_annual_temperature DOUBLE NOT NULL);
CREATE TABLE spatial_unit (
  id INTEGER NOT NULL PRIMARY KEY,
  admin_boundary_id INTEGER NOT NULL REFERENCES admin_boundary(id),
  eco_boundary_id INTEGER NOT NULL REFERENCES eco_boundary(id),
  spinup_parameter_id INTEGER NOT NULL REFERENCES spinup_parameter(id));
CREATE TABLE pool (id INTEGER NOT NULL PRIMARY KEY, name CLOB NOT NULL UNIQUE);
CREATE TABLE dom_pool (id INTEGER NOT NULL PRIMARY KEY, pool_id INTEGER NOT NULL UNIQUE REFERENCES pool(id));
CREATE TABLE decay_parameter (
  dom_pool_id INTEGER NOT NULL PRIMARY KEY REFERENCES dom_pool(id),
  base_decay_rate DOUBLE NOT NULL, reference_temp DOUBLE NOT NULL, q10 DOUBLE NOT NULL,
  prop_to_atmosphere DOUBLE NOT NULL, max_rate DOUBLE NOT NULL);
CREATE TABLE disturbance_matrix (id INTEGER NOT NULL PRIMARY KEY, name CLOB NOT NULL UNIQUE);
CREATE TABLE disturbance_matrix_value (
  disturbance_matrix_id INTEGER NOT NULL REFERENCES disturbance_matrix(id),
  source_pool_id INTEGER NOT NULL REFERENCES pool(id),
  sink_pool_id INTEGER NOT NULL REFERENCES pool(id),
  proportion DOUBLE NOT NULL,
  PRIMARY KEY (disturbance_matrix_id, source_pool_id, sink_pool_id));
CREATE TABLE disturbance_matrix_association (
  spatial_unit_id INTEGER NOT NULL REFERENCES spatial_unit(id),
  disturbance_type_id INTEGER NOT NULL REFERENCES disturbance_type(id),
  disturbance_matrix_id INTEGER NOT NULL REFERENCES disturbance_matrix(id),
  PRIMARY KEY (spatial_unit_id, disturbance_type_id));
CREATE TABLE forest_type (id INTEGER NOT NULL PRIMARY KEY, name VARCHAR(255) NOT NULL);
CREATE TABLE genus (id INTEGER NOT NULL PRIMARY KEY, name VARCHAR(255) NOT NULL);
CREATE TABLE species (
  id INTEGER NOT NULL PRIMARY KEY, name VARCHAR(255) NOT NULL,
  forest_type_id INTEGER NOT NULL REFERENCES forest_type(id),
  genus_id INTEGER NOT NULL REFERENCES genus(id));
CREATE TABLE root_parameter (
  id INTEGER NOT NULL PRIMARY KEY,
  hw_a DOUBLE NOT NULL, sw_a DOUBLE NOT NULL, hw_b DOUBLE NOT NULL,
  frp_a DOUBLE NOT NULL, frp_b DOUBLE NOT NULL, frp_c DOUBLE NOT NULL,
  CONSTRAINT u_root_parameters UNIQUE (hw_a, sw_a, hw_b, frp_a, frp_b, frp_c));
CREATE TABLE vol_to_bio_factor (
  id INTEGER NOT NULL PRIMARY KEY,
  a DOUBLE NOT NULL, b DOUBLE NOT NULL,
  a_nonmerch DOUBLE NOT NULL, b_nonmerch DOUBLE NOT NULL, k_nonmerch DOUBLE NOT NULL, cap_nonmerch DOUBLE NOT NULL,
  a_sap DOUBLE NOT NULL, b_sap DOUBLE NOT NULL, k_sap DOUBLE NOT NULL, cap_sap DOUBLE NOT NULL,
  a1 DOUBLE NOT NULL, a2 DOUBLE NOT NULL, a3 DOUBLE NOT NULL,
  b1 DOUBLE NOT NULL, b2 DOUBLE NOT NULL, b3 DOUBLE NOT NULL,
  c1 DOUBLE NOT NULL, c2 DOUBLE NOT NULL, c3 DOUBLE NOT NULL,
  min_volume DOUBLE NOT NULL, max_volume DOUBLE NOT NULL,
  low_stemwood_prop DOUBLE NOT NULL, high_stemwood_prop DOUBLE NOT NULL,
  low_stembark_prop DOUBLE NOT NULL, high_stembark_prop DOUBLE NOT NULL,
  low_branches_prop DOUBLE NOT NULL, high_branches_prop DOUBLE NOT NULL,
  low_foliage_prop DOUBLE NOT NULL, high_foliage_prop DOUBLE NOT NULL);
CREATE TABLE vol_to_bio_factor_association (
  spatial_unit_id INTEGER NOT NULL REFERENCES spatial_unit(id),
  species_id INTEGER NOT NULL REFERENCES species(id),
  vol_to_bio_factor_id INTEGER NOT NULL REFERENCES vol_to_bio_factor(id),
  root_parameter_id INTEGER NOT NULL REFERENCES root_parameter(id),
  PRIMARY KEY (spatial_unit_id, species_id));
CREATE TABLE turnover_parameter_association (
  genus_id INTEGER NOT NULL REFERENCES genus(id),
  eco_boundary_id INTEGER NOT NULL REFERENCES eco_boundary(id),
  turnover_parameter_id INTEGER NOT NULL REFERENCES turnover_parameter(id),
  PRIMARY KEY (genus_id, eco_boundary_id));
CREATE TABLE growth_multiplier_series (id INTEGER NOT NULL PRIMARY KEY, description VARCHAR(255) NOT NULL UNIQUE);
CREATE TABLE growth_multiplier_value (
  growth_multiplier_series_id INTEGER NOT NULL REFERENCES growth_multiplier_series(id),
  forest_type_id INTEGER NOT NULL REFERENCES forest_type(id),
  time_step INTEGER NOT NULL, value DOUBLE NOT NULL,
  PRIMARY KEY (growth_multiplier_series_id, forest_type_id, time_step));
CREATE TABLE growth_multiplier_series_association (
  disturbance_type_id INTEGER NOT NULL REFERENCES disturbance_type(id),
  growth_multiplier_series_id INTEGER NOT NULL REFERENCES growth_multiplier_series(id),
  PRIMARY KEY (disturbance_type_id, growth_multiplier_series_id));
CREATE TABLE classifier (id INTEGER NOT NULL PRIMARY KEY, name CLOB NOT NULL);
CREATE TABLE classifier_value (
  id INTEGER NOT NULL PRIMARY KEY,
  classifier_id INTEGER NOT NULL REFERENCES classifier(id),
  value VARCHAR(255) NOT NULL, description VARCHAR(255) NOT NULL,
  CONSTRAINT u_cv_classifier_id_value UNIQUE (classifier_id, value));
CREATE TABLE growth_curve (id INTEGER NOT NULL PRIMARY KEY, description VARCHAR(255) NOT NULL);
CREATE TABLE growth_curve_classifier_value (
  growth_curve_id INTEGER NOT NULL REFERENCES growth_curve(id),
  classifier_value_id INTEGER NOT NULL REFERENCES classifier_value(id),
  PRIMARY KEY (growth_curve_id, classifier_value_id));
CREATE TABLE growth_curve_component (
  id INTEGER NOT NULL PRIMARY KEY,
  growth_curve_id INTEGER NOT NULL REFERENCES growth_curve(id),
  species_id INTEGER NOT NULL REFERENCES species(id),
  CONSTRAINT u_gcc_growth_curve_id_species_id UNIQUE (growth_curve_id, species_id));
CREATE TABLE growth_curve_component_value (
  growth_curve_component_id INTEGER NOT NULL REFERENCES growth_curve_component(id),
  age INTEGER NOT NULL, merchantable_volume DOUBLE NOT NULL,
  PRIMARY KEY (growth_curve_component_id, age));
CREATE TABLE transition_type (id INTEGER NOT NULL PRIMARY KEY, name VARCHAR(255) NOT NULL);
CREATE TABLE transition (
  id INTEGER NOT NULL PRIMARY KEY,
  transition_type_id INTEGER NOT NULL REFERENCES transition_type(id),
  age INTEGER NOT NULL, regen_delay INTEGER NOT NULL, description VARCHAR(255));
CREATE TABLE transition_classifier_value (
  transition_id INTEGER NOT NULL REFERENCES transition(id),
  classifier_value_id INTEGER NOT NULL REFERENCES classifier_value(id),
  PRIMARY KEY (transition_id, classifier_value_id));
CREATE TABLE transition_rule (
  id INTEGER NOT NULL PRIMARY KEY,
  transition_id INTEGER NOT NULL REFERENCES transition(id),
  disturbance_type_id INTEGER NOT NULL REFERENCES disturbance_type(id),
  CONSTRAINT transition_rule_unique_transition_id_disturbance_type_id UNIQUE (transition_id, disturbance_type_id));
CREATE TABLE transition_rule_classifier_value (
  transition_rule_id INTEGER NOT NULL REFERENCES transition_rule(id),
  classifier_value_id INTEGER NOT NULL REFERENCES classifier_value(id),
  PRIMARY KEY (transition_rule_id, classifier_value_id));
CREATE TABLE accounting_rule_type (
  id INTEGER NOT NULL PRIMARY KEY, name VARCHAR(255) NOT NULL UNIQUE, spinup INTEGER NOT NULL);
CREATE TABLE accounting_rule_set (
  id INTEGER NOT NULL PRIMARY KEY,
  disturbance_type_id INTEGER NOT NULL REFERENCES disturbance_type(id),
  spatial_unit_id INTEGER REFERENCES spatial_unit(id));
CREATE TABLE accounting_rule (
  accounting_rule_set_id INTEGER NOT NULL REFERENCES accounting_rule_set(id),
  accounting_rule_type_id INTEGER NOT NULL REFERENCES accounting_rule_type(id),
  value DOUBLE,
  PRIMARY KEY (accounting_rule_set_id, accounting_rule_type_id));

CREATE INDEX classifier_value_classifier_id ON classifier_value (classifier_id);
CREATE INDEX classifier_value_value ON classifier_value (value);
CREATE UNIQUE INDEX classifier_name ON classifier (name);
CREATE UNIQUE INDEX admin_boundary_name ON admin_boundary (name);
CREATE UNIQUE INDEX eco_boundary_name ON eco_boundary (name);
CREATE UNIQUE INDEX admin_region_name ON admin_region (name);
CREATE UNIQUE INDEX eco_region_name ON eco_region (name);
CREATE UNIQUE INDEX forest_type_name ON forest_type (name);
CREATE UNIQUE INDEX genus_name ON genus (name);
CREATE UNIQUE INDEX species_name ON species (name);
CREATE INDEX growth_curve_component_growth_curve_id ON growth_curve_component (growth_curve_id);
CREATE UNIQUE INDEX transition_type_name ON transition_type (name);
CREATE UNIQUE INDEX u_accounting_rule_set ON accounting_rule_set (disturbance_type_id, spatial_unit_id);
