package schemas

import (
	"context"
	"errors"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// errOverBudget ends a validation that took more than ValidationBudget
// subschema evaluations.
var errOverBudget = errors.New("validation work budget exhausted")

// budget counts the subschema evaluations of one validation at a time: a
// vocabulary with no keywords attaches a counting extension to every
// subschema of one compiled copy, and the library calls it each time it
// evaluates that subschema. Past the budget, or when the context ends, the
// extension panics with a stop, which run recovers: the library's
// validator has no context and no way to stop from outside.
type budget struct {
	left int
	ctx  context.Context
}

// stop is what the counting extension panics with.
type stop struct{ err error }

// checkEvery is how many evaluations pass between looks at the context.
const checkEvery = 256

func (b *budget) vocabulary() *jsonschema.Vocabulary {
	return &jsonschema.Vocabulary{
		URL:    "urn:herald:budget",
		Schema: emptyMeta,
		Compile: func(*jsonschema.CompilerContext, map[string]any) (jsonschema.SchemaExt, error) {
			return counter{b}, nil
		},
	}
}

// emptyMeta is the meta-schema of the budget vocabulary: it has no keywords.
var emptyMeta = func() *jsonschema.Schema {
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(`{}`))
	if err != nil {
		panic(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("urn:herald:budget-meta", doc); err != nil {
		panic(err)
	}
	return c.MustCompile("urn:herald:budget-meta")
}()

type counter struct{ b *budget }

func (c counter) Validate(*jsonschema.ValidatorContext, any) {
	b := c.b
	b.left--
	if b.left < 0 {
		panic(stop{errOverBudget})
	}
	if b.left%checkEvery == 0 && b.ctx != nil {
		if err := b.ctx.Err(); err != nil {
			panic(stop{err})
		}
	}
}

// run calls validate with a budget of limit evaluations; err is non-nil when the budget or
// ctx stopped it, verr is what validate returned otherwise.
func (b *budget) run(ctx context.Context, limit int, validate func() error) (verr, err error) {
	b.left, b.ctx = limit, ctx
	defer func() {
		b.ctx = nil
		if r := recover(); r != nil {
			s, ok := r.(stop)
			if !ok {
				panic(r)
			}
			err = s.err
		}
	}()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return validate(), nil
}
