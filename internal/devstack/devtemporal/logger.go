package devtemporal

import (
	"fmt"
	"io"
	"os"
	"strings"

	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/log/tag"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// newServerLogger builds the Temporal server's logger: JSON lines at level to w.
func newServerLogger(level string, w io.Writer) log.Logger {
	if w == nil {
		w = os.Stderr
	}
	core := zapcore.NewCore(
		zapcore.NewJSONEncoder(log.DefaultZapEncoderConfig),
		zapcore.Lock(zapcore.AddSync(w)),
		zap.NewAtomicLevelAt(log.ParseZapLevel(level)),
	)
	return noExitLogger{log.NewZapLogger(zap.New(core))}
}

// fatalError is the panic value noExitLogger.Fatal raises.
type fatalError struct{ msg string }

func (e fatalError) Error() string { return "temporal server: " + e.msg }

// noExitLogger turns Fatal into an error log line plus a panic instead of os.Exit. The
// server calls Fatal when, for example, it cannot bind an internal service's port;
// while Start builds the server such a panic is recovered and returned as an error, so
// the process that embeds the server is not killed by a port race. A Fatal from a
// background goroutine still ends the process, as before, but with a stack trace.
type noExitLogger struct{ log.Logger }

func (l noExitLogger) Fatal(msg string, tags ...tag.Tag) {
	l.Error(msg, tags...)
	parts := []string{msg}
	for _, t := range tags {
		parts = append(parts, fmt.Sprintf("%s=%v", t.Key(), t.Value()))
	}
	panic(fatalError{msg: strings.Join(parts, " ")})
}

func (l noExitLogger) With(tags ...tag.Tag) log.Logger {
	return noExitLogger{log.With(l.Logger, tags...)}
}

func (l noExitLogger) Skip(extraSkip int) log.Logger {
	if s, ok := l.Logger.(log.SkipLogger); ok {
		return noExitLogger{s.Skip(extraSkip)}
	}
	return l
}
