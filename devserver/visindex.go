package devserver

import (
	"database/sql"
	"fmt"

	persistencespb "go.temporal.io/server/api/persistence/v1"
	"google.golang.org/protobuf/proto"
)

// listedVisibilityColumns are the visibility columns whose indexes herald
// dev keeps besides those of the namespace's search attributes: the Web
// UI's filters (id, type, status, task queue, start time) and the division
// Temporal's own scheduler and batcher list by. default_idx, the listing
// order, has no column of its own here and is kept too.
var listedVisibilityColumns = map[string]bool{
	"execution_time": true, "workflow_id": true, "workflow_type_name": true, "status": true,
	"task_queue": true, "TemporalNamespaceDivision": true,
}

// trimVisibility trims the visibility table's indexes (trimVisibilityIndexes)
// in visPath, or in dbPath where visibility has no file of its own, once the
// namespace maps every one of Herald's search attributes to a column. A
// namespace made before they existed gets them through the server once it
// runs (Start): until then nothing is dropped, so that their columns keep
// their indexes.
func trimVisibility(dbPath, visPath, namespace string) error {
	columns, err := searchAttributeColumns(dbPath, namespace)
	if err != nil {
		return err
	}
	mapped := map[string]bool{}
	for _, attr := range columns {
		mapped[attr] = true
	}
	for attr := range searchAttributes() {
		if !mapped[attr] {
			return nil
		}
	}
	if visPath == "" {
		visPath = dbPath
	}
	return trimVisibilityIndexes(visPath, columns)
}

// trimVisibilityIndexes drops, from the visibility table in the SQLite file
// at path, every index on a column that is neither listed above nor mapped
// to one of the namespace's search attributes (columns), before the server
// opens the file.
//
// Why: the schema indexes every column a search attribute can map to, 58
// indexes, and each workflow's close record is a REPLACE that deletes and
// inserts an entry in every one of them: a fifth to a quarter of herald
// dev's CPU under load (docs/devserver-tuning.md). A query on a dropped
// column still answers, by a scan. Every start does it, so a search
// attribute added since keeps its index from the next start, and a data dir
// from before loses the others on its first.
func trimVisibilityIndexes(path string, columns map[string]string) error {
	db, err := openFile(path)
	if err != nil {
		return err
	}
	defer db.Close()
	indexes, err := visibilityIndexes(db)
	if err != nil {
		return fmt.Errorf("listing visibility indexes in %s: %w", path, err)
	}
	for index, column := range indexes {
		if column == "" || listedVisibilityColumns[column] || columns[column] != "" {
			continue
		}
		// The name comes from sqlite_master, not from outside.
		if _, err := db.Exec(`DROP INDEX IF EXISTS "` + index + `"`); err != nil {
			return fmt.Errorf("dropping visibility index %s in %s: %w", index, path, err)
		}
	}
	return nil
}

// visibilityIndexes maps each index of the visibility table to the column it
// is for, "" for an expression (default_idx's close time). An index's first
// column is namespace_id, its second the one it is for.
func visibilityIndexes(db *sql.DB) (map[string]string, error) {
	rows, err := db.Query(`SELECT m.name, i.name FROM sqlite_master m, pragma_index_info(m.name) i
		WHERE m.type = 'index' AND m.tbl_name = 'executions_visibility' AND m.sql IS NOT NULL AND i.seqno = 1`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	indexes := map[string]string{}
	for rows.Next() {
		var index string
		var column sql.NullString
		if err := rows.Scan(&index, &column); err != nil {
			return nil, err
		}
		indexes[index] = column.String
	}
	return indexes, rows.Err()
}

// openFile opens the SQLite file at path for the set-up before the server
// runs.
func openFile(path string) (*sql.DB, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	return db, nil
}

// searchAttributeColumns reads which visibility column each of the
// namespace's custom search attributes maps to (column -> attribute), from
// the namespace's record in the SQLite file at path: the SQL visibility
// store maps an attribute to a column such as Keyword03 when it is added,
// in no fixed order.
func searchAttributeColumns(path, namespace string) (map[string]string, error) {
	db, err := openFile(path)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	var data []byte
	var encoding string
	err = db.QueryRow(`SELECT data, data_encoding FROM namespaces WHERE name = ?`, namespace).Scan(&data, &encoding)
	if err != nil {
		return nil, fmt.Errorf("reading namespace %q in %s: %w", namespace, path, err)
	}
	if encoding != "Proto3" {
		return nil, fmt.Errorf("namespace %q in %s: unknown encoding %q", namespace, path, encoding)
	}
	var detail persistencespb.NamespaceDetail
	if err := proto.Unmarshal(data, &detail); err != nil {
		return nil, fmt.Errorf("decoding namespace %q in %s: %w", namespace, path, err)
	}
	return detail.GetConfig().GetCustomSearchAttributeAliases(), nil
}
