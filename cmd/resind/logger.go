package main

import (
	"io"
	"os"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// newLogger writes JSON lines to file and, in the foreground, a readable
// console form to stderr.
func newLogger(file *os.File, console bool, stderr io.Writer) *zap.Logger {
	level := zap.NewAtomicLevelAt(zap.InfoLevel)
	if os.Getenv("RESIND_DEBUG") != "" {
		level.SetLevel(zap.DebugLevel)
	}
	jsonEnc := zap.NewProductionEncoderConfig()
	jsonEnc.EncodeTime = zapcore.ISO8601TimeEncoder
	cores := []zapcore.Core{zapcore.NewCore(zapcore.NewJSONEncoder(jsonEnc), zapcore.Lock(file), level)}
	if console {
		conEnc := zap.NewDevelopmentEncoderConfig()
		conEnc.EncodeTime = zapcore.TimeEncoderOfLayout("15:04:05.000")
		cores = append(cores, zapcore.NewCore(zapcore.NewConsoleEncoder(conEnc), zapcore.AddSync(stderr), level))
	}
	return zap.New(zapcore.NewTee(cores...))
}
