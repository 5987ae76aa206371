package prodtest

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"net"
	"strconv"

	"github.com/herald-hq/herald/internal/proc"
)

// Proc is one process of the shape: Temporal's server or a herald command.
type Proc struct {
	*proc.Proc
	// HTTPAddr is where a herald process serves /healthz, /readyz and
	// /metrics (the API, or a worker's operations routes); "" for others.
	HTTPAddr string
}

func newProc(name, bin string, args, env []string, logPath string) *Proc {
	return &Proc{Proc: proc.New(name, bin, args, env, logPath)}
}

// freePorts returns n distinct ports on 127.0.0.1 that are free now, all
// below 32768: Temporal keeps membership ports in a smallint column.
// They are not reserved; a clash with another process is unlikely enough
// for a test, and shows as a start failure that names the port.
func freePorts(n int) ([]int, error) {
	seen := map[int]bool{}
	var out []int
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			l.Close()
		}
	}()
	for tries := 0; len(out) < n; tries++ {
		if tries > 1000 {
			return nil, errors.New("prodtest: no free ports below 32768")
		}
		port := 20000 + int(randUint()%12000)
		if seen[port] {
			continue
		}
		seen[port] = true
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			continue
		}
		lns = append(lns, l) // held until all are chosen, so none is picked twice
		out = append(out, port)
	}
	return out, nil
}

func randUint() uint32 {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return binary.LittleEndian.Uint32(b[:])
}
