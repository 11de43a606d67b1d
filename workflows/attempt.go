package workflows

import (
	"errors"
	"time"

	"github.com/switchboard-cc/switchboard/internal/turn"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// A provider attempt is a local activity when it fits in the workflow task, and a
// regular activity when it does not.
//
// A local activity runs inside the workflow task that scheduled it: until it
// returns, the task stays open, and nothing else reaches the conversation (the
// update of its next turn waits, and with it the bridge's partition). The SDK warns
// (TMPRL1104) when a task takes over 5 s, and heartbeats it at 80% of the task
// timeout (10 s). A regular activity costs more (its task goes through the
// server, and its result comes back in a new workflow task) but holds nothing.
//
// So, since versionHedgedNLU, an attempt runs locally only for the tries that fit
// within TaskBudget of the workflow task's start (a try's bound being its
// timeout, its hedge delay on the first try, turn.AttemptGrace and a second of
// backoff); the tries that do not fit run as one regular activity once the local
// ones failed. With the dev policy's 2 s attempts, a first attempt and a hedge
// beside it run locally and a failover after a 2 s timeout runs as a regular
// activity; an attempt_timeout of 5 s always runs regular.

// TaskBudget is how long the local activities of one workflow task may run.
const TaskBudget = 4 * time.Second

// backoffBound bounds the retry policy's wait between two tries (MaximumInterval).
const backoffBound = time.Second

// tryBound is the bound of one try of an attempt.
func tryBound(a turn.Attempt) time.Duration { return attemptDefaults(a).Timeout + turn.AttemptGrace }

// attemptDefaults fills in what a route left out: 5 s, one try.
func attemptDefaults(a turn.Attempt) turn.Attempt {
	if a.Timeout <= 0 {
		a.Timeout = 5 * time.Second
	}
	if a.MaxAttempts <= 0 {
		a.MaxAttempts = 1
	}
	return a
}

// retryPolicy is the one retry layer of an attempt.
func retryPolicy(tries int32, nonRetryable []string) *temporal.RetryPolicy {
	return &temporal.RetryPolicy{
		InitialInterval:        100 * time.Millisecond,
		BackoffCoefficient:     2,
		MaximumInterval:        backoffBound,
		MaximumAttempts:        tries,
		NonRetryableErrorTypes: nonRetryable,
	}
}

// scheduleToClose is enough for tries tries at full timeout plus backoff, and the
// first try's delay, and no more: the retry policy, not this deadline, is what
// ends a failing provider.
func scheduleToClose(a turn.Attempt, tries int32, delay time.Duration) time.Duration {
	return delay + time.Duration(tries)*(tryBound(a)+backoffBound) + time.Second
}

// sendNonRetryable are the errors that end a send attempt (and, in runs recorded
// before versionHedgedNLU, any attempt) at once.
var sendNonRetryable = []string{ErrTypeRejected, ErrTypeUnknown}

// localOptions are the options of an attempt run entirely as a local activity.
func localOptions(a turn.Attempt) workflow.LocalActivityOptions {
	a = attemptDefaults(a)
	return workflow.LocalActivityOptions{
		StartToCloseTimeout:    tryBound(a),
		ScheduleToCloseTimeout: scheduleToClose(a, a.MaxAttempts, 0),
		RetryPolicy:            retryPolicy(a.MaxAttempts, sendNonRetryable),
	}
}

// taskElapsed is how long the local activities of the current workflow task have
// run: the workflow's clock moves on with each local activity's result, and a new
// task is told by its new history length (and by the main loop waking up from a
// wait). All of it comes from the history, so a replay decides alike.
func (c *conversation) taskElapsed(ctx workflow.Context) time.Duration {
	now := workflow.Now(ctx)
	if n := workflow.GetInfo(ctx).GetCurrentHistoryLength(); n != c.taskLength {
		c.taskLength, c.taskStart = n, now
	}
	return now.Sub(c.taskStart)
}

// attemptCall is one provider attempt to run.
type attemptCall struct {
	activity string
	summary  string
	attempt  turn.Attempt
	// delay is how long the first try waits before it calls (a hedge's); the
	// activity is told so in its input, and only the first try waits.
	delay time.Duration
	// nonRetryable are the error types that end the attempt at once.
	nonRetryable []string
	// input is the activity's input; retry, when set, is the input of the tries
	// after the first (without the delay).
	input, retry any
}

// start starts the attempt and returns its future: local tries while they fit in
// TaskBudget, then the remaining tries as one regular activity.
func (c *conversation) start(ctx workflow.Context, call attemptCall) workflow.Future {
	a := attemptDefaults(call.attempt)
	left := TaskBudget - c.taskElapsed(ctx)
	local := int32(0)
	if first := call.delay + tryBound(a); first <= left {
		local = 1 + min(a.MaxAttempts-1, int32((left-first)/(tryBound(a)+backoffBound)))
	}
	if local == 0 {
		return c.regular(ctx, call, a.MaxAttempts, call.input, call.delay)
	}
	lf := workflow.ExecuteLocalActivity(workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout:    call.delay + tryBound(a),
		ScheduleToCloseTimeout: scheduleToClose(a, local, call.delay),
		RetryPolicy:            retryPolicy(local, call.nonRetryable),
		Summary:                call.summary,
	}), call.activity, call.input)
	if local == a.MaxAttempts {
		return lf
	}
	f, s := workflow.NewFuture(ctx)
	workflow.Go(ctx, func(gctx workflow.Context) {
		err := lf.Get(gctx, nil)
		if err == nil || !retryable(err, call.nonRetryable) || ctx.Err() != nil {
			s.Chain(lf)
			return
		}
		retry := call.retry
		if retry == nil {
			retry = call.input
		}
		s.Chain(c.regular(ctx, call, a.MaxAttempts-local, retry, 0))
	})
	return f
}

// regular runs tries tries of the attempt as a regular activity.
func (c *conversation) regular(ctx workflow.Context, call attemptCall, tries int32, input any, delay time.Duration) workflow.Future {
	a := attemptDefaults(call.attempt)
	return workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout:    delay + tryBound(a),
		ScheduleToCloseTimeout: scheduleToClose(a, tries, delay),
		RetryPolicy:            retryPolicy(tries, call.nonRetryable),
		Summary:                call.summary,
	}), call.activity, input)
}

// retryable reports whether the retry policy would try again after err.
func retryable(err error, nonRetryable []string) bool {
	var canceled *temporal.CanceledError
	if errors.As(err, &canceled) {
		return false
	}
	var ae *temporal.ApplicationError
	if errors.As(err, &ae) {
		if ae.NonRetryable() {
			return false
		}
		for _, t := range nonRetryable {
			if ae.Type() == t {
				return false
			}
		}
	}
	return true
}
