// Command hello is the Go test handler of rtbuild's go1.x and provided.al2
// runtimes, built with github.com/aws/aws-lambda-go: as the function's
// executable named like the handler for go1.x, or as its bootstrap for
// provided.al2. lambda.Start talks to the Runtime API at
// AWS_LAMBDA_RUNTIME_API (its RPC mode, the original go1.x protocol, is
// used only when _LAMBDA_SERVER_PORT is set, which rtbuild's images never
// do).
//
// Build: CGO_ENABLED=0 GOOS=linux GOARCH=amd64|arm64 go build -C testdata/tools -o BIN ./hello
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

// Event is the test event: {"name": "...", "fail": true to get an error}.
type Event struct {
	Name string `json:"name"`
	Fail bool   `json:"fail"`
}

// Response is what the handler returns.
type Response struct {
	Hello        string `json:"hello"`
	Runtime      string `json:"runtime"`
	RequestID    string `json:"requestId"`
	FunctionName string `json:"functionName"`
	Handler      string `json:"handler"`
	Executable   string `json:"executable"`
}

// HelloError is the handler's error; aws-lambda-go reports its type name
// ("HelloError") as the errorType.
type HelloError struct{ Name string }

func (e *HelloError) Error() string { return fmt.Sprintf("hello failed for %s", e.Name) }

func handle(ctx context.Context, ev Event) (Response, error) {
	if ev.Fail {
		return Response{}, &HelloError{Name: ev.Name}
	}
	r := Response{
		Hello:        ev.Name,
		Runtime:      "go",
		FunctionName: lambdacontext.FunctionName,
		Handler:      os.Getenv("_HANDLER"),
	}
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		r.RequestID = lc.AwsRequestID
	}
	if exe, err := os.Executable(); err == nil {
		r.Executable = exe
	}
	return r, nil
}

func main() {
	lambda.Start(handle)
}
