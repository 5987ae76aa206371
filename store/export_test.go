package store

import "time"

// OnStatement has f told each statement the store runs from now on.
func (s *Store) OnStatement(f func(query string)) { s.ran = f }

// EndBeatGrace ends the wait after this process's beats failed (beats) at
// once, as ProcessLapse would.
func (s *Store) EndBeatGrace() {
	s.beats.mu.Lock()
	s.beats.recovered = time.Time{}
	s.beats.mu.Unlock()
}
