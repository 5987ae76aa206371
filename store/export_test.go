package store

// OnStatement has f told each statement the store runs from now on.
func (s *Store) OnStatement(f func(query string)) { s.ran = f }
