-- +goose Up
-- An endpoint's CEL filter (which events it gets) and transform (what body
-- and headers it gets); empty when it has none.
ALTER TABLE endpoints ADD COLUMN filter_expr TEXT NOT NULL DEFAULT '';
ALTER TABLE endpoints ADD COLUMN transform_expr TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE endpoints DROP COLUMN transform_expr;
ALTER TABLE endpoints DROP COLUMN filter_expr;
