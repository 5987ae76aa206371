package workflows

import (
	"errors"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/herald-hq/herald/schemas"
)

// The retention workflow purges once a round, at once again while the
// activity says more is due, survives a failed round, and continues as new
// after its rounds.
func TestRetentionWorkflow(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(RetentionWorkflow, workflow.RegisterOptions{Name: schemas.RetentionWorkflowName})
	var calls []time.Time
	env.RegisterActivityWithOptions(func() (schemas.PurgeResult, error) {
		calls = append(calls, env.Now())
		switch len(calls) {
		case 1:
			return schemas.PurgeResult{Events: 500, More: true}, nil
		case 2:
			return schemas.PurgeResult{}, errors.New("database is down")
		}
		return schemas.PurgeResult{Events: 1}, nil
	}, activity.RegisterOptions{Name: schemas.ActivityPurge})

	env.ExecuteWorkflow(schemas.RetentionWorkflowName, schemas.RetentionInput{Every: time.Hour})
	if !env.IsWorkflowCompleted() {
		t.Fatal("the run did not end")
	}
	var can *workflow.ContinueAsNewError
	if err := env.GetWorkflowError(); !errors.As(err, &can) {
		t.Fatalf("run ended with %v, want continue-as-new", err)
	}
	// Rounds 1 (more due) and 2 (failed, MaximumAttempts 3) then one a round.
	if len(calls) != retentionRounds+1 {
		t.Fatalf("%d purges in a run of %d rounds", len(calls), retentionRounds)
	}
	if calls[1].Sub(calls[0]) >= time.Hour {
		t.Fatalf("the round after 'more' waited %s", calls[1].Sub(calls[0]))
	}
	last := calls[len(calls)-1].Sub(calls[len(calls)-2])
	if last < time.Hour || last > time.Hour+time.Minute {
		t.Fatalf("rounds are %s apart, want an hour", last)
	}
}
