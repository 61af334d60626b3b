package run

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// EmulatorAddr is where the Runtime Interface Emulator takes invocations,
// inside the container's network namespace.
const EmulatorAddr = "127.0.0.1:8080"

// InvokePath is the emulator's invocation endpoint.
const InvokePath = "/2015-03-31/functions/" + Function + "/invocations"

// Result is the emulator's answer to the invocation.
type Result struct {
	// StatusCode is the HTTP status of the answer (200 for function errors
	// too: the error is the body).
	StatusCode int
	// Body is the function's response, or its error payload
	// ({"errorMessage": ..., "errorType": ...}).
	Body []byte
	// FunctionError is the X-Amz-Function-Error header, when the emulator
	// sets one.
	FunctionError string
}

// dialer dials inside the container's network namespace.
type dialer interface {
	DialContext(ctx context.Context, network, addr string) (net.Conn, error)
}

// waitReady retries connecting to the emulator until it accepts, the
// container exits (exited is closed) or ctx ends.
func waitReady(ctx context.Context, d dialer, exited <-chan struct{}, within time.Duration) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		dctx, cancel := context.WithTimeout(ctx, time.Second)
		conn, err := d.DialContext(dctx, "tcp", EmulatorAddr)
		cancel()
		if err == nil {
			conn.Close()
			return nil
		}
		last = err
		select {
		case <-exited:
			return errExited
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("the emulator did not listen on %s in the container within %s (last: %v)", EmulatorAddr, within, last)
			}
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// errExited stands for "the container exited"; Run replaces it by how.
var errExited = errors.New("the container exited")

// invoke posts event to the emulator and reads its answer; it gives up when
// the container exits or ctx ends.
func invoke(ctx context.Context, d dialer, event []byte, exited <-chan struct{}) (*Result, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	gone := make(chan struct{})
	go func() {
		select {
		case <-exited:
			close(gone)
			cancel()
		case <-ctx.Done():
		}
	}()
	client := &http.Client{Transport: &http.Transport{
		DialContext:       d.DialContext,
		DisableKeepAlives: true,
		Proxy:             nil, // never a host proxy: the address is inside the container
	}}
	defer client.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+EmulatorAddr+InvokePath, bytes.NewReader(event))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err == nil {
		defer resp.Body.Close()
		var body []byte
		if body, err = io.ReadAll(resp.Body); err == nil {
			return &Result{StatusCode: resp.StatusCode, Body: body, FunctionError: resp.Header.Get("X-Amz-Function-Error")}, nil
		}
	}
	select {
	case <-gone:
		return nil, errExited
	default:
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return nil, fmt.Errorf("the function did not answer in time: %w", ctx.Err())
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return nil, fmt.Errorf("invoke the function: %w", err)
}
