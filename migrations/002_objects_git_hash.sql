-- What Git last set on an object (apiVersion, labels, annotations, spec, source
-- file and line) as one hash, so that a sync decides "unchanged" for 10,000
-- objects from a narrow text column instead of reading and comparing their
-- jsonb. NULL for controller-made objects and rows written before this column.
ALTER TABLE objects ADD COLUMN git_hash text;
