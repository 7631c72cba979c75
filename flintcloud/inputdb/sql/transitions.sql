-- Transitions (GCBM transition rules): age reset, regeneration delay, classifier changes.
SELECT t.id AS transition_id,
       tt.name AS reset_type,
       t.age AS age,
       t.regen_delay AS regen_delay
FROM "transition" t
INNER JOIN transition_type tt ON tt.id = t.transition_type_id
