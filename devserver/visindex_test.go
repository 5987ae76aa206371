package devserver

import (
	"maps"
	"path/filepath"
	"slices"
	"testing"
)

// checkVisibilityIndexes checks the indexes of the visibility table in the
// file vis: trimmed, exactly the listed columns' and those of the columns
// the namespace's search attributes map to; or, untrimmed, all of the
// schema's. Either way every mapped column has its index.
func checkVisibilityIndexes(t *testing.T, dir, vis, namespace string, trimmed bool) {
	t.Helper()
	columns, err := searchAttributeColumns(filepath.Join(dir, DBFile), namespace)
	if err != nil {
		t.Fatal(err)
	}
	indexed := visibilityIndexColumns(t, vis)
	for column, attr := range columns {
		if !slices.Contains(indexed, column) {
			t.Errorf("search attribute %s's column %s has no index; indexed: %v", attr, column, indexed)
		}
	}
	if !trimmed {
		if len(indexed) < 50 {
			t.Errorf("%d visibility indexes left, want the schema's 58 untrimmed: %v", len(indexed), indexed)
		}
		return
	}
	want := []string{""} // default_idx, on an expression
	for c := range listedVisibilityColumns {
		want = append(want, c)
	}
	for c := range columns {
		want = append(want, c)
	}
	slices.Sort(want)
	if !slices.Equal(indexed, want) {
		t.Errorf("visibility indexes on %v, want %v", indexed, want)
	}
}

// visibilityIndexColumns lists, sorted, the column each index of the
// visibility table is for ("" for an expression).
func visibilityIndexColumns(t *testing.T, path string) []string {
	t.Helper()
	db, err := openFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	indexes, err := visibilityIndexes(db)
	if err != nil {
		t.Fatal(err)
	}
	return slices.Sorted(maps.Values(indexes))
}
